"""The simulator as a pure ASGI app: routes, auth, faults before the answer, the timed stream, records."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs

from dev.simulator.chat import ChatWire
from dev.simulator.encoding import FILTERED_PROMPT, dumps
from dev.simulator.prompt import BadRequest, Prompt, read_chat, read_responses
from dev.simulator.responses import SERVER_ERROR, ResponsesWire
from dev.simulator.rules import HTTP_FAULTS, Plan, Rule, parse_rule, plan_answer

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Wire = ChatWire | ResponsesWire

DEPLOYMENT_PATH = re.compile(r"/openai/deployments/([^/]+)/chat/completions")
# path -> (api, Azure's wire format or an OpenAI-compatible local server's)
PATHS = {
    "/openai/v1/chat/completions": ("chat_completions", True),
    "/openai/v1/responses": ("responses", True),
    "/v1/chat/completions": ("chat_completions", False),
    "/v1/responses": ("responses", False),
}
NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
FINISHED = frozenset({"stop", "length", "content_filter"})


@dataclass
class Record:
    id: str
    api: str  # responses | chat_completions
    path: str
    auth: str  # api-key | bearer | "" (refused)
    deployment: str | None  # from the deployments path, or `model` on the Azure v1 paths
    api_version: str | None
    body: Any  # the parsed JSON body (its text when it was not JSON)
    stream: bool = False
    status: int = 200
    fault: str | None = None
    reply: str = ""  # the whole answer (or refusal) the rule drew, before any cut
    tokens_total: int = 0
    tokens_sent: int = 0
    reasoning_tokens: int = 0  # as counted in usage
    reasoning_sent: int = 0  # reasoning pieces streamed (summary deltas or reasoning_content chunks)
    max_output_tokens: int | None = None  # the cap the request asked for, whichever field carried it
    ending: str | None = None  # how the answer ends (was to end, if closed_early): stop | length |
    # content_filter | error_event | failed | cut; None when refused before any answer
    usage: dict[str, Any] | None = None  # as reported to the client
    finished: bool = False  # the answer ended normally (stop, length or content_filter), nothing cut
    closed_early: bool = False  # the client went away before the answer ended
    started_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    last_token_at: float | None = None
    ended_at: float | None = None


class SimulatedCut(Exception):
    """Raised mid-response so the server drops the connection, like a reset upstream."""


class Simulator:
    """Cheap per token, so it is not the bottleneck in benchmarks."""

    def __init__(
        self,
        *,
        ttft_ms: float = 50,
        token_ms: float = 10,
        tokens: int = 30,
        think_ms: float = 0,
        reasoning: str | None = None,
        api_key: str = "",
    ) -> None:
        self.defaults = Rule(ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens, think_ms=think_ms, reasoning=reasoning)
        self.api_key = api_key
        self.rules: list[Rule] = []
        self.records: list[Record] = []
        self.keep_records = 10_000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path: str = scope["path"]
        body = await _read_body(receive)
        if path.startswith("/_sim/"):
            await self._control(scope["method"], path, body, send)
            return
        deployment = DEPLOYMENT_PATH.fullmatch(path)
        api, azure = ("chat_completions", True) if deployment else PATHS.get(path, ("", False))
        if scope["method"] != "POST" or not api:
            await _json(send, 404, NOT_FOUND)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode())
        record = Record(
            id=uuid.uuid4().hex,
            api=api,
            path=path,
            auth="api-key" if "api-key" in headers else "bearer" if _bearer(headers) else "",
            deployment=deployment.group(1) if deployment else None,
            api_version=query.get("api-version", [None])[0],
            body=body.decode("utf-8", "replace"),
        )
        self.records.append(record)
        del self.records[: -self.keep_records]
        try:
            await self._call(record, azure, headers, body, receive, send)
        finally:
            record.ended_at = record.ended_at or time.monotonic()

    async def _call(
        self, record: Record, azure: bool, headers: dict[str, str], raw: bytes, receive: Receive, send: Send
    ) -> None:
        supplied = headers.get("api-key") or _bearer(headers)
        if not record.auth or (self.api_key and supplied != self.api_key):
            message = "Access denied due to invalid subscription key or wrong API endpoint."
            await self._refuse(record, send, 401, {"error": {"code": "401", "message": message}})
            return
        if record.deployment is not None and not record.api_version:
            await self._refuse(record, send, 404, NOT_FOUND)
            return
        try:
            record.body = json.loads(raw)
            prompt = read_responses(record.body) if record.api == "responses" else read_chat(record.body)
            if azure and record.path.startswith("/openai/v1/"):
                if not isinstance(record.body.get("model"), str):
                    raise BadRequest("Missing required parameter: 'model'.", "model", "missing_required_parameter")
                record.deployment = record.body["model"]
        except ValueError:
            error = BadRequest("We could not parse the JSON body of your request.", None, "invalid_json")
            await self._refuse(record, send, 400, error.body())
            return
        except BadRequest as error:
            await self._refuse(record, send, 400, error.body())
            return
        record.stream, record.max_output_tokens = prompt.stream, prompt.cap
        rule = self._rule_for(prompt.last_user)
        record.fault = rule.fault
        if rule.fault in HTTP_FAULTS or rule.fault == "prompt_filter":
            await self._fault_before_answer(record, rule, send)
            return
        show_reasoning = prompt.summary if record.api == "responses" else not azure
        plan = plan_answer(rule, cap=prompt.cap, show_reasoning=show_reasoning, summary_parts=record.api == "responses")
        record.reply, record.tokens_total = plan.text, plan.answer_total
        record.reasoning_tokens, record.ending = plan.reasoning_tokens, plan.ending
        wire = _wire(record, azure, prompt)
        respond = self._stream if prompt.stream else self._answer
        answer = respond(record, rule, plan, wire, send)
        await _unless_client_leaves(record, answer, receive)

    async def _refuse(
        self, record: Record, send: Send, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        record.status = status
        await _json(send, status, payload, extra)

    async def _fault_before_answer(self, record: Record, rule: Rule, send: Send) -> None:
        if rule.fault == "prompt_filter":
            error = {
                "code": "content_filter",
                "status": 400,
                "param": "prompt",
                "type": None,
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
                "policy.",
                "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": FILTERED_PROMPT},
            }
            await self._refuse(record, send, 400, {"error": error})
            return
        status = int(rule.fault or 500)
        extra: list[tuple[bytes, bytes]] = []
        if status == 429:
            extra = [
                (b"retry-after", f"{rule.retry_after:g}".encode()),
                (b"retry-after-ms", str(int(rule.retry_after * 1000)).encode()),
            ]
        error = {"code": str(status), "message": f"Simulated {status}"}
        await self._refuse(record, send, status, {"error": error}, extra)

    async def _stream(self, record: Record, rule: Rule, plan: Plan, wire: Wire, send: Send) -> None:
        async def emit(data: bytes, more: bool = True) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": more})

        await send({"type": "http.response.start", "status": 200, "headers": _headers(record, wire.media_type)})
        if opening := wire.opening():
            await emit(opening)
        await asyncio.sleep((rule.ttft_ms or 0) / 1000)
        await emit(wire.accepted() + (wire.reasoning_start() if plan.reasoning_item else b""))
        await asyncio.sleep((rule.think_ms or 0) / 1000)
        delay = (rule.token_ms or 0) / 1000
        for index, (part, piece) in enumerate(plan.reasoning):
            if index:
                await asyncio.sleep(delay)
            await emit(wire.reasoning_delta(part, piece))
            record.reasoning_sent += 1
        between = (wire.reasoning_end() if plan.reasoning_item else b"") + (
            wire.answer_start(plan.refusal) if plan.message else b""
        )
        if between:
            await emit(between)
        for index, token in enumerate(plan.answer):
            if index == plan.stall_at:
                await asyncio.sleep(rule.stall_ms / 1000)
            if index or plan.reasoning:
                await asyncio.sleep(delay)
            await emit(wire.answer_delta(token))
            now = time.monotonic()
            record.tokens_sent += 1
            record.first_token_at = record.first_token_at or now
            record.last_token_at = now
        if plan.stall_at is not None and plan.stall_at >= len(plan.answer):
            await asyncio.sleep(rule.stall_ms / 1000)
        if plan.ending == "cut":
            raise SimulatedCut("simulated connection cut")
        usage = wire.usage(plan)
        await emit(wire.ending(plan, usage), more=False)
        record.usage = usage if plan.ending in FINISHED else None
        record.finished = plan.ending in FINISHED

    async def _answer(self, record: Record, rule: Rule, plan: Plan, wire: Wire, send: Send) -> None:
        """The non-streamed answer, after as long as streaming it would have taken."""
        pieces = len(plan.reasoning) + len(plan.answer)
        stall = rule.stall_ms if plan.stall_at is not None else 0
        await asyncio.sleep(((rule.ttft_ms or 0) + (rule.think_ms or 0) + pieces * (rule.token_ms or 0) + stall) / 1000)
        if plan.ending in ("error_event", "failed"):
            error = {"code": "server_error", "message": SERVER_ERROR, "type": "server_error", "param": None}
            await self._refuse(record, send, 500, {"error": error})
            return
        data = dumps(wire.body(plan, record.id)).encode()
        headers = [*_headers(record, b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if plan.ending == "cut":  # the connection drops halfway through the body
            await send({"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True})
            raise SimulatedCut("simulated connection cut")
        await send({"type": "http.response.body", "body": data})
        record.tokens_sent, record.reasoning_sent = len(plan.answer), len(plan.reasoning)
        record.usage, record.finished = wire.usage(plan), True
        record.first_token_at = record.last_token_at = time.monotonic()

    def _rule_for(self, last_user: str) -> Rule:
        for rule in self.rules:
            if rule.match in last_user and rule.times != 0:
                if rule.times is not None:
                    rule.times -= 1
                merged = {k: v for k, v in asdict(rule).items() if v is not None}
                return Rule(**{**asdict(self.defaults), **merged})
        return self.defaults

    async def _control(self, method: str, path: str, body: bytes, send: Send) -> None:
        if path == "/_sim/rules" and method == "POST":
            try:
                rule = parse_rule(json.loads(body))
            except ValueError as error:  # JSONDecodeError is one
                await _json(send, 400, {"error": f"bad rule: {error}"})
                return
            self.rules.insert(0, rule)
            await _json(send, 200, asdict(rule))
        elif path == "/_sim/requests" and method == "GET":
            await _json(send, 200, [asdict(r) for r in self.records])
        elif path == "/_sim/reset" and method == "POST":
            self.rules.clear()
            self.records.clear()
            await _json(send, 200, {"ok": True})
        else:
            await _json(send, 404, {"error": "unknown control path"})


def _wire(record: Record, azure: bool, prompt: Prompt) -> Wire:
    if record.api == "responses":
        return ResponsesWire(record.id, record.body, prompt)
    return ChatWire(record.id, azure=azure, prompt=prompt)


async def _unless_client_leaves(record: Record, answer: Coroutine[Any, Any, None], receive: Receive) -> None:
    """Run the answer until it ends or the client disconnects, whichever comes first."""

    async def watch_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    sender = asyncio.ensure_future(answer)
    watcher = asyncio.ensure_future(watch_disconnect())
    try:
        await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not sender.done():
            record.closed_early = True
            sender.cancel()
        watcher.cancel()
        record.ended_at = time.monotonic()
    if sender.done() and not sender.cancelled() and (error := sender.exception()) is not None:
        raise error


def _bearer(headers: dict[str, str]) -> str:
    value = headers.get("authorization", "")
    return value.removeprefix("Bearer ") if value.startswith("Bearer ") else ""


def _headers(record: Record, media_type: bytes) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", media_type),
        (b"cache-control", b"no-cache"),
        (b"apim-request-id", record.id.encode()),
        (b"x-request-id", record.id.encode()),
        (b"x-ms-region", b"Simulated"),
    ]
    if record.deployment:
        headers.append((b"x-ms-deployment-name", record.deployment.encode("latin-1", "replace")))
    return headers


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(send: Send, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
