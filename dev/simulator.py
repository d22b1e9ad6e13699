"""An Azure OpenAI chat-completions simulator, for tests, benchmarks and offline runs.

It speaks the Azure wire format (prompt-filter chunk, role chunk, content chunks with filter
results, finish chunk, usage chunk, `data: [DONE]`) on both Azure paths and the plain
OpenAI-compatible one, with configurable timing and fault injection, and records every request
(including whether the client closed the stream early) for tests to assert on.

    python -m dev.simulator --port 8000 --ttft-ms 200 --token-ms 20 --tokens 60

Control API (JSON): `POST /_sim/rules` adds a rule, `GET /_sim/requests` lists the records,
`POST /_sim/reset` clears both. A rule applies to requests whose last user message contains
its `match` text; fields: reply, tokens, ttft_ms, token_ms, fault, fault_after, retry_after,
stall_ms, times. Faults: 429, 500, 503, 401, 403, 404, prompt_filter, content_filter, cut,
stall, error_event.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MODEL = "gpt-4o-mini-2024-07-18"
FINGERPRINT = "fp_sim000001"
SAFE = {"filtered": False, "severity": "safe"}
FILTER_RESULTS = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}
PROMPT_FILTER_RESULTS = [
    {
        "prompt_index": 0,
        "content_filter_results": {**FILTER_RESULTS, "jailbreak": {"filtered": False, "detected": False}},
    }
]
DEFAULT_TEXT = (
    "Streaming answers arrive token by token, so the reader sees the reply as it is written. "
    "Each delta travels from the model through the function to the browser without waiting. "
    "Café naïve façade — 日本語のテキスト and emoji 🚀✨ travel intact. "
)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def tokenize(text: str) -> list[str]:
    """Split like a tokenizer would, roughly: words with their leading space, long runs in pieces of 4."""
    pieces = re.findall(r"\s*\S+|\s+", text)
    return [p[i : i + 4] for p in pieces for i in range(0, len(p), 4)] or [text]


@dataclass
class Rule:
    match: str = ""
    reply: str | None = None
    tokens: int | None = None
    ttft_ms: float | None = None
    token_ms: float | None = None
    fault: str | None = None
    fault_after: int = 0
    retry_after: float = 1
    stall_ms: float = 0
    times: int | None = None


@dataclass
class Record:
    id: str
    path: str
    auth: str
    deployment: str | None
    api_version: str | None
    body: Any
    stream: bool
    fault: str | None = None
    reply: str = ""
    tokens_total: int = 0
    tokens_sent: int = 0
    finished: bool = False
    closed_early: bool = False
    started_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    last_token_at: float | None = None
    ended_at: float | None = None


class SimulatedCut(Exception):
    """Raised mid-response so the server drops the connection, like a reset upstream."""


class Simulator:
    """A pure ASGI app: cheap per token, so it is not the bottleneck in benchmarks."""

    def __init__(self, *, ttft_ms: float = 50, token_ms: float = 10, tokens: int = 30, api_key: str = "") -> None:
        self.defaults = Rule(ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens)
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
        match = re.fullmatch(r"/openai/deployments/([^/]+)/chat/completions|/(?:openai/)?v1/chat/completions", path)
        if scope["method"] != "POST" or not match:
            await _json(send, 404, {"error": {"code": "404", "message": "Resource not found"}})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode())
        await self._completion(match.group(1), query, headers, body, path, receive, send)

    async def _completion(
        self,
        deployment: str | None,
        query: dict[str, list[str]],
        headers: dict[str, str],
        raw: bytes,
        path: str,
        receive: Receive,
        send: Send,
    ) -> None:
        auth = (
            "api-key"
            if "api-key" in headers
            else "bearer"
            if headers.get("authorization", "").startswith("Bearer ")
            else ""
        )
        supplied = headers.get("api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if not auth or (self.api_key and supplied != self.api_key):
            await _json(
                send, 401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}
            )
            return
        api_version = query.get("api-version", [None])[0]
        if deployment is not None and not api_version:
            await _json(send, 404, {"error": {"code": "404", "message": "Resource not found"}})
            return
        try:
            body = json.loads(raw)
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            await _json(send, 400, {"error": {"code": "invalid_request", "message": "Invalid request body."}})
            return
        rule = self._rule_for(messages)
        stream = bool(body.get("stream"))
        record = Record(
            id=uuid.uuid4().hex,
            path=path,
            auth=auth,
            deployment=deployment,
            api_version=api_version,
            body=body,
            stream=stream,
            fault=rule.fault,
        )
        self.records.append(record)
        del self.records[: -self.keep_records]

        if rule.fault in ("429", "500", "503", "401", "403", "404"):
            status = int(rule.fault)
            extra = (
                [
                    (b"retry-after", str(rule.retry_after).encode()),
                    (b"retry-after-ms", str(int(rule.retry_after * 1000)).encode()),
                ]
                if status == 429
                else []
            )
            await _json(send, status, {"error": {"code": str(status), "message": f"Simulated {status}"}}, extra)
            record.ended_at = time.monotonic()
            return
        if rule.fault == "prompt_filter":
            filtered = {**FILTER_RESULTS, "hate": {"filtered": True, "severity": "high"}}
            error = {
                "code": "content_filter",
                "status": 400,
                "param": "prompt",
                "type": None,
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
                "policy.",
                "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": filtered},
            }
            await _json(send, 400, {"error": error})
            record.ended_at = time.monotonic()
            return

        reply = rule.reply if rule.reply is not None else _default_reply(messages, rule.tokens or 1)
        tokens = tokenize(reply) if reply else []
        record.reply, record.tokens_total = reply, len(tokens)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) + 4 for m in messages if isinstance(m, dict))
        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            await self._stream(record, rule, tokens, prompt_tokens, include_usage, receive, send)
        else:
            await asyncio.sleep((rule.ttft_ms or 0) / 1000 + len(tokens) * (rule.token_ms or 0) / 1000)
            await _json(send, 200, _completion_body(reply, len(tokens), prompt_tokens, rule.fault))
            record.tokens_sent, record.finished, record.ended_at = len(tokens), True, time.monotonic()

    async def _stream(
        self,
        record: Record,
        rule: Rule,
        tokens: list[str],
        prompt_tokens: int,
        include_usage: bool,
        receive: Receive,
        send: Send,
    ) -> None:
        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        sender = asyncio.ensure_future(self._send_stream(record, rule, tokens, prompt_tokens, include_usage, send))
        watcher = asyncio.ensure_future(watch_disconnect())
        try:
            await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sender.done():
                record.closed_early = True
                sender.cancel()
            watcher.cancel()
            record.ended_at = time.monotonic()
        if sender.done() and not sender.cancelled() and sender.exception() is not None:
            raise sender.exception()  # type: ignore[misc]

    async def _send_stream(
        self, record: Record, rule: Rule, tokens: list[str], prompt_tokens: int, include_usage: bool, send: Send
    ) -> None:
        created = int(time.time())
        tail = (
            f',"created":{created},"id":"chatcmpl-{record.id[:24]}","model":"{MODEL}",'
            f'"object":"chat.completion.chunk","system_fingerprint":"{FINGERPRINT}","usage":null}}'
        )
        head = '{"choices":[{"content_filter_results":'
        filters = dumps(FILTER_RESULTS)

        def event(payload: str) -> bytes:
            return f"data: {payload}\n\n".encode()

        def choice(delta: str, finish: str | None, results: str = "{}") -> bytes:
            finish_json = "null" if finish is None else f'"{finish}"'
            return event(
                f'{head}{results},"delta":{delta},"finish_reason":{finish_json},"index":0,"logprobs":null}}]{tail}'
            )

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"apim-request-id", record.id.encode()),
                    (b"x-ms-region", b"Simulated"),
                ],
            }
        )
        prelude = event(
            dumps(
                {
                    "choices": [],
                    "created": 0,
                    "id": "",
                    "model": "",
                    "object": "",
                    "prompt_filter_results": PROMPT_FILTER_RESULTS,
                }
            )
        )
        await send({"type": "http.response.body", "body": prelude, "more_body": True})
        await asyncio.sleep((rule.ttft_ms or 0) / 1000)
        await send(
            {
                "type": "http.response.body",
                "body": choice('{"content":"","refusal":null,"role":"assistant"}', None),
                "more_body": True,
            }
        )
        token_delay = (rule.token_ms or 0) / 1000
        for index, token in enumerate(tokens):
            if rule.fault and index == rule.fault_after and await self._mid_stream_fault(rule, record, choice, send):
                return
            if index:
                await asyncio.sleep(token_delay)
            await send(
                {
                    "type": "http.response.body",
                    "body": choice(f'{{"content":{dumps(token)}}}', None, filters),
                    "more_body": True,
                }
            )
            now = time.monotonic()
            record.tokens_sent += 1
            record.first_token_at = record.first_token_at or now
            record.last_token_at = now
        if rule.fault and rule.fault_after >= len(tokens) and await self._mid_stream_fault(rule, record, choice, send):
            return
        final = choice("{}", "stop")
        if include_usage:
            usage = {
                "completion_tokens": len(tokens),
                "completion_tokens_details": {"reasoning_tokens": 0},
                "prompt_tokens": prompt_tokens,
                "prompt_tokens_details": {"cached_tokens": 0},
                "total_tokens": prompt_tokens + len(tokens),
            }
            final += event(f'{{"choices":[]{tail[: -len("null}")]}{dumps(usage)}}}')
        await send({"type": "http.response.body", "body": final + event("[DONE]"), "more_body": False})
        record.finished = True

    async def _mid_stream_fault(self, rule: Rule, record: Record, choice: Callable[..., bytes], send: Send) -> bool:
        """Apply the rule's fault at this point of the stream; True when the stream is over."""
        if rule.fault == "content_filter":
            filtered = dumps({**FILTER_RESULTS, "violence": {"filtered": True, "severity": "medium"}})
            await send(
                {"type": "http.response.body", "body": choice("{}", "content_filter", filtered), "more_body": False}
            )
            record.finished = True
            return True
        if rule.fault == "error_event":
            error = {
                "error": {"code": "server_error", "message": "The server had an error while processing your request."}
            }
            await send({"type": "http.response.body", "body": f"data: {dumps(error)}\n\n".encode(), "more_body": False})
            return True
        if rule.fault == "cut":
            raise SimulatedCut("simulated connection cut")
        if rule.fault == "stall":
            await asyncio.sleep(rule.stall_ms / 1000)
        return False

    def _rule_for(self, messages: Any) -> Rule:
        last_user = next(
            (str(m.get("content", "")) for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"),
            "",
        )
        for rule in self.rules:
            if rule.match in last_user and rule.times != 0:
                if rule.times is not None:
                    rule.times -= 1
                merged = {k: v for k, v in asdict(rule).items() if v is not None}
                return Rule(**{**asdict(self.defaults), **merged})
        return self.defaults

    async def _control(self, method: str, path: str, body: bytes, send: Send) -> None:
        if path == "/_sim/rules" and method == "POST":
            fields = set(Rule.__dataclass_fields__)
            try:
                data = json.loads(body)
                rule = Rule(**{k: v for k, v in data.items() if k in fields})
            except (ValueError, TypeError, AttributeError):
                await _json(send, 400, {"error": "bad rule"})
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


def _default_reply(messages: Any, tokens: int) -> str:
    """A deterministic reply of about `tokens` tokens: the same prompt always gets the same text."""
    return "".join(t for t in itertools.islice(itertools.cycle(tokenize(DEFAULT_TEXT)), tokens)).strip()


def _completion_body(reply: str, completion_tokens: int, prompt_tokens: int, fault: str | None) -> dict[str, Any]:
    finish = "content_filter" if fault == "content_filter" else "stop"
    return {
        "choices": [
            {
                "content_filter_results": FILTER_RESULTS,
                "finish_reason": finish,
                "index": 0,
                "logprobs": None,
                "message": {"content": reply, "refusal": None, "role": "assistant"},
            }
        ],
        "created": int(time.time()),
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "model": MODEL,
        "object": "chat.completion",
        "prompt_filter_results": PROMPT_FILTER_RESULTS,
        "system_fingerprint": FINGERPRINT,
        "usage": {
            "completion_tokens": completion_tokens,
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


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


class _HideSimulatedCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedCut))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ttft-ms", type=float, default=50)
    parser.add_argument("--token-ms", type=float, default=10)
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--api-key", default="", help="require this key (any key or bearer token when empty)")
    args = parser.parse_args()
    app = Simulator(ttft_ms=args.ttft_ms, token_ms=args.token_ms, tokens=args.tokens, api_key=args.api_key)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(4096)
    logging.getLogger("uvicorn.error").addFilter(_HideSimulatedCuts())
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=4096)
    print(f"Azure OpenAI simulator ready on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
