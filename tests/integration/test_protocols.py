"""Every route behaves alike over real HTTP: the same text, limits, faults, overload, disconnects, heartbeats.

Each route is read into the same protocol-neutral events (text, reasoning, progress, finish,
error), so one test states one behaviour for all of them. The UI message stream is also checked
part by part against the keys AI SDK 5.0's strict schemas allow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from chat import errors
from chat.settings import Settings
from tests.harness import Host, Simulator, host_env, start_host, stop
from tests.ui_parts import UI_PART_KEYS

MULTIBYTE = "Grüße 👋🏽 from 東京: nai\u0308ve cafe\u0301, 👨\u200d👩\u200d👧 and 日本語のテキスト — done."
REASONING = "Weighing the greeting 🤔 — 日本語 too."
Turns = list[tuple[str, str]]
Event = tuple[Any, ...]


def ai_chat_body(turns: Turns) -> dict[str, Any]:
    return {"messages": [{"role": role, "content": text} for role, text in turns]}


def ui_body(turns: Turns) -> dict[str, Any]:
    messages = [
        {"id": f"m{i}", "role": role, "parts": [{"type": "text", "text": text}]} for i, (role, text) in enumerate(turns)
    ]
    return {"id": "chat-1", "messages": messages, "trigger": "submit-message", "messageId": None}


def responses_body(turns: Turns, **extra: Any) -> dict[str, Any]:
    kind = {"assistant": "output_text"}
    items = [
        {"type": "message", "role": role, "content": [{"type": kind.get(role, "input_text"), "text": text}]}
        for role, text in turns
    ]
    return {"input": items, **extra}


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    protocol: str  # the telemetry record's `protocol`
    build: Callable[[Turns], dict[str, Any]]
    read: Callable[[httpx.Response], list[Event]]
    streaming: bool = True
    accept: str = "*/*"
    media_type: str = ""
    error_codes: bool = True  # the UI message stream's error part carries only a message

    def body(self, text: str, *, turns: int = 1) -> dict[str, Any]:
        return self.build([("user", text)] * turns)

    def post(self, client: httpx.Client, host: Host, body: Any) -> httpx.Response:
        headers = {"Accept": self.accept, "Content-Type": "application/json"}
        if isinstance(body, bytes):
            return client.post(f"{host.url}{self.path}", content=body, headers=headers)
        return client.post(f"{host.url}{self.path}", json=body, headers=headers)

    def __str__(self) -> str:
        return self.name


# Readers: one route's response as protocol-neutral events.


def read_ai_chat_lines(response: httpx.Response) -> list[Event]:
    assert response.text.endswith("\n")
    events: list[Event] = []
    for line in response.text.split("\n"):
        if not line:
            continue
        obj = json.loads(line)
        if "error" in obj:
            events.append(("error", obj["error"]["code"], obj["error"]["message"]))
            continue
        context = {**obj.get("context", {}), **obj["delta"].get("context", {})}
        if "progress" in context:
            events.append(("progress", context["progress"]))
        if "reasoning" in context:
            events.append(("reasoning", context["reasoning"]))
        if obj["delta"].get("content"):
            events.append(("text", obj["delta"]["content"]))
        if "finish_reason" in context:
            events.append(("finish", context["finish_reason"]))
    return events


def read_ai_chat_whole(response: httpx.Response) -> list[Event]:
    body = response.json()
    context = body["context"]
    reasoning = [("reasoning", context["reasoning"])] if "reasoning" in context else []
    return [*reasoning, ("text", body["message"]["content"]), ("finish", context["finish_reason"])]


UI_REASONS = {"stop": "stop", "length": "length"}


def sse_blocks(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event; comments (keep-alives) are skipped, as clients do."""
    blocks = []
    assert text.endswith("\n\n")
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if lines:
            name = next((line[len("event: ") :] for line in lines if line.startswith("event: ")), None)
            blocks.append((name, "\n".join(line[len("data: ") :] for line in lines if line.startswith("data: "))))
    return blocks


def read_ui_parts(response: httpx.Response) -> list[Event]:
    blocks = sse_blocks(response.text)
    assert blocks[-1] == (None, "[DONE]") and all(data != "[DONE]" for _, data in blocks[:-1])
    events: list[Event] = []
    open_part: tuple[str, str] | None = None  # (kind, id) that deltas may go to
    for _, data in blocks[:-1]:
        part = json.loads(data)
        kind = part["type"]
        required, optional = UI_PART_KEYS[kind]
        assert required <= part.keys() <= required | optional, part
        if kind.endswith("-start"):
            assert open_part is None, f"{kind} while {open_part} is open"
            open_part = (kind.removesuffix("-start"), part["id"])
        elif kind.endswith(("-delta", "-end")):
            assert open_part == (kind.rsplit("-", 1)[0], part["id"]), f"{kind} outside its part"
            if kind.endswith("-end"):
                open_part = None
            else:
                events.append((open_part[0], part["delta"]))
        elif kind in ("finish", "error"):
            assert open_part is None, f"{kind} while {open_part} is open"
            if kind == "error":
                events.append(("error", None, part["errorText"]))
            else:
                reason = part["messageMetadata"]["finishReason"]
                events.append(("finish", {v: k for k, v in UI_REASONS.items()}.get(reason, reason)))
        elif kind == "start":
            events.append(("progress", "accepted"))
        else:
            assert part["transient"] is True
            events.append(("progress", part["data"]["phase"]))
    return events


def responses_event(obj: dict[str, Any]) -> Event | None:
    kind = obj["type"]
    if kind == "response.context":
        return ("progress", obj["context"]["progress"]) if "progress" in obj["context"] else None
    if kind == "response.output_text.delta":
        return ("text", obj["delta"])
    if kind == "response.reasoning_summary_text.delta":
        return ("reasoning", obj["delta"])
    if kind == "response.completed":
        return ("finish", obj["context"]["finish_reason"])
    assert kind == "error", obj
    return ("error", obj["error"]["code"], obj["error"]["message"])


def read_responses_lines(response: httpx.Response) -> list[Event]:
    assert response.text.endswith("\n")
    events = [responses_event(json.loads(line)) for line in response.text.split("\n") if line]
    return [e for e in events if e is not None]


def read_responses_sse(response: httpx.Response) -> list[Event]:
    events = []
    for name, data in sse_blocks(response.text):
        obj = json.loads(data)
        assert name == obj["type"]  # the event is named by its type
        events.append(responses_event(obj))
    return [e for e in events if e is not None]


def read_responses_whole(response: httpx.Response) -> list[Event]:
    body = response.json()
    context = body["context"]
    reasoning = [("reasoning", context["reasoning"])] if "reasoning" in context else []
    return [*reasoning, ("text", body["output_text"]), ("finish", context["finish_reason"])]


NDJSON, SSE = "application/x-ndjson", "text/event-stream"
ROUTES = [
    Route("ai-chat-whole", "/api/chat", "ai-chat", ai_chat_body, read_ai_chat_whole, streaming=False),
    Route("ai-chat-ndjson", "/api/chat/stream", "ai-chat", ai_chat_body, read_ai_chat_lines, media_type=NDJSON),
    Route("ui-message", "/api/ui/chat", "ui-message", ui_body, read_ui_parts, media_type=SSE, error_codes=False),
    Route("responses-ndjson", "/api/responses", "responses", responses_body, read_responses_lines, media_type=NDJSON),
    Route(
        "responses-sse", "/api/responses", "responses", responses_body, read_responses_sse, accept=SSE, media_type=SSE
    ),
    Route(
        "responses-whole",
        "/api/responses",
        "responses",
        lambda turns: responses_body(turns, stream=False),
        read_responses_whole,
        streaming=False,
    ),
]
STREAMING = [r for r in ROUTES if r.streaming]
by_route = pytest.mark.parametrize("route", ROUTES, ids=str)
by_streaming_route = pytest.mark.parametrize("route", STREAMING, ids=str)


def joined(events: list[Event], kind: str) -> str:
    return "".join(e[1] for e in events if e[0] == kind)


def shows_reasoning(simulator: Simulator, marker: str) -> bool:
    return simulator.records(marker)[0]["api"] == "responses"  # Azure Chat Completions streams none


@by_route
def test_exact_text_and_reasoning_with_phases_in_order(host: Host, simulator: Simulator, client, route: Route):
    marker = simulator.rule(reply=MULTIBYTE, reasoning=REASONING)
    response = route.post(client, host, route.body(f"hello {marker}"))
    assert response.status_code == 200
    events = route.read(response)
    assert joined(events, "text") == MULTIBYTE
    assert joined(events, "reasoning") == (REASONING if shows_reasoning(simulator, marker) else "")
    assert events[-1] == ("finish", "stop")
    if route.streaming:
        kinds = [e[0] if e[0] != "progress" else e[1] for e in events]
        assert kinds[0] == "accepted"
        assert kinds.index("answering") < kinds.index("text")
        assert len([k for k in kinds if k == "text"]) == simulator.record(marker)["tokens_total"]  # one per delta
        if shows_reasoning(simulator, marker):
            assert kinds.index("thinking") < kinds.index("reasoning") < kinds.index("answering")
    record = host.request_record(response.headers["x-request-id"])
    assert (record["protocol"], record["streaming"], record["finish_reason"]) == (
        route.protocol,
        route.streaming,
        "stop",
    )


@by_streaming_route
def test_stream_headers_say_what_it_is_and_disable_buffering(host: Host, client, route: Route):
    response = route.post(client, host, route.body("hi"))
    assert response.headers["content-type"].startswith(route.media_type)
    assert "no-cache" in response.headers["cache-control"]
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in response.headers
    assert response.headers.get("x-vercel-ai-ui-message-stream") == ("v1" if route.protocol == "ui-message" else None)


@by_route
def test_a_longer_answer_ends_with_length(host: Host, simulator: Simulator, client, route: Route):
    marker = simulator.rule(reply="one two six ten", fault="length", fault_after=2)
    events = route.read(route.post(client, host, route.body(marker)))
    assert joined(events, "text") == "one two"
    assert events[-1] == ("finish", "length")


def bad_bodies(route: Route) -> list[tuple[Any, str]]:
    """Bodies every route refuses, in its own shape; the field the 400 must name."""
    messages = "input" if route.protocol == "responses" else "messages"
    return [
        (b"{oops", "body"),
        (b"\xff\xfe", "body"),
        (b"[1, 2]", "body"),
        ({"something": "else"}, "input" if route.protocol == "responses" else "messages"),
        (route.build([]), messages),
        ({**route.build([]), messages: 42}, messages),
        ({**route.build([]), messages: ["hi"]}, f"{messages}[0]"),
        (route.build([("tool", "x")]), f"{messages}[0].role"),
    ]


SPECIFIC = {
    "ui-message": [
        ({"messages": [{"id": "m", "role": "user"}]}, "messages[0].parts"),
        ({"messages": [{"role": "user", "parts": ["hi"]}]}, "messages[0].parts[0]"),
        ({"messages": [{"role": "user", "parts": [{"type": "text", "text": 5}]}]}, "messages[0].parts[0].text"),
        (
            {"messages": [{"role": "user", "parts": [{"type": "file", "mediaType": "image/png", "url": "data:,"}]}]},
            "messages[0].parts[0]",
        ),
        ({**ui_body([("user", "hi")]), "trigger": 3}, "trigger"),
    ],
    "responses": [
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}, "input[0].content[0]"),
        ({"input": [{"role": "user", "content": 5}]}, "input[0].content"),
        ({"input": "hi", "stream": "yes"}, "stream"),
        ({"input": "hi", "context": []}, "context"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ],
}


def bad_cases() -> Iterator[Any]:
    for route in ROUTES:
        for body, field in bad_bodies(route) + SPECIFIC.get(route.protocol, []):
            yield pytest.param(route, body, field, id=f"{route}-{field}")


@pytest.mark.parametrize(("route", "body", "field"), list(bad_cases()))
def test_bad_input_is_a_400_naming_the_field(host: Host, client, route: Route, body: Any, field: str):
    response = route.post(client, host, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_request", field)
    assert error["message"]


@by_route
def test_the_shared_limits_hold_on_every_route(host: Host, client, route: Route):
    too_many = route.post(client, host, route.body("x", turns=101))
    assert too_many.status_code == 400 and "at most 100 messages" in too_many.json()["error"]["message"]
    too_long = route.post(client, host, route.body("é" * (Settings().max_input_bytes // 2 + 1)))  # counted in bytes
    assert too_long.status_code == 400 and "UTF-8" in too_long.json()["error"]["message"]
    too_big = route.post(client, host, b" " * (1024 * 1024 + 1))
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "body_too_large"


@by_route
@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("429", 429, "rate_limited"),
        ("500", 502, "upstream_error"),
        ("401", 502, "upstream_misconfigured"),
        ("prompt_filter", 400, "content_filter"),
    ],
)
def test_upstream_refusals_are_real_statuses(
    host: Host, simulator: Simulator, client, route: Route, fault: str, status: int, code: str
):
    marker = simulator.rule(fault=fault, retry_after=0.05)
    response = route.post(client, host, route.body(marker))
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    for secret in ("sim-key", "Traceback", "127.0.0.1", "openai."):
        assert secret not in response.text
    if fault == "429":
        assert response.headers["retry-after"] == "1"
        assert len(simulator.records(marker)) == 3  # the first try and CHAT_UPSTREAM_MAX_RETRIES (2) more


MID_ANSWER_FAILURES = {
    "cut": errors.upstream_interrupted(),
    "error_event": errors.upstream_error("The model service failed while answering."),
    "content_filter": errors.answer_filtered(),
}


@by_route
@pytest.mark.parametrize("fault", MID_ANSWER_FAILURES)
def test_failures_mid_answer_keep_the_text_then_end_with_the_error(
    host: Host, simulator: Simulator, client, route: Route, fault: str
):
    marker = simulator.rule(reply="red fox ran far", fault=fault, fault_after=2)
    response = route.post(client, host, route.body(marker))
    expected = MID_ANSWER_FAILURES[fault]
    if not route.streaming:
        assert response.status_code == expected.status
        assert response.json()["error"] == {"code": expected.code, "message": expected.message}
        return
    events = route.read(response)
    assert joined(events, "text") == "red fox"
    assert events[-1] == ("error", expected.code if route.error_codes else None, expected.message)
    assert host.request_record(response.headers["x-request-id"])["error_code"] == expected.code


@by_streaming_route
def test_keep_alives_flow_while_the_model_thinks(host: Host, simulator: Simulator, route: Route):
    """CHAT_HEARTBEAT_SECONDS is 1 in the test host; the model is silent for 2.5 s after accepting."""
    marker = simulator.rule(reply="Zyx at last", think_ms=2500)
    with httpx.Client(timeout=30) as client:
        response = route.post(client, host, route.body(marker))
    lines = response.text.split("\n")
    before_text = lines[: next(i for i, line in enumerate(lines) if '"Zyx"' in line)]
    if route.media_type == SSE:
        assert before_text.count(": keep-alive") >= 2
    else:  # a bare newline: an empty line
        assert before_text.count("") >= 2
    assert joined(route.read(response), "text") == "Zyx at last"  # keep-alives add nothing


@by_route
def test_a_client_going_away_closes_the_upstream(host: Host, simulator: Simulator, route: Route):
    marker = simulator.rule(tokens=200, token_ms=50)
    with httpx.Client(timeout=30) as client:
        if route.streaming:
            request = client.build_request("POST", f"{host.url}{route.path}", json=route.body(marker))
            request.headers["Accept"] = route.accept
            response = client.send(request, stream=True)
            next(line for line in response.iter_lines() if TEXT_LINE[route.protocol] in line)
            response.close()  # mid-answer
        else:
            with pytest.raises(httpx.ReadTimeout):
                client.post(f"{host.url}{route.path}", json=route.body(marker), timeout=httpx.Timeout(30, read=1.5))
    record = simulator.wait_for(marker, lambda r: r["ended_at"] is not None)
    assert record["closed_early"] is True and not record["finished"]
    assert record["tokens_sent"] < 200
    if route.streaming:
        assert host.request_record(response.headers["x-request-id"])["cancelled"] is True


TEXT_LINE = {"ai-chat": '"content"', "ui-message": '"text-delta"', "responses": "output_text.delta"}


@pytest.fixture(scope="module")
def one_stream_host(simulator: Simulator) -> Iterator[Host]:
    started = start_host(host_env(simulator, CHAT_MAX_CONCURRENT_STREAMS="1"))
    yield started
    stop(started.process)


@contextmanager
def holding_the_only_slot(host: Host, simulator: Simulator) -> Iterator[None]:
    """An answer in progress on the host's one upstream slot, for as long as the block lasts."""
    marker = simulator.rule(tokens=400, token_ms=50)
    deadline = time.monotonic() + 10
    with httpx.Client(timeout=30) as client:
        while True:
            with client.stream("POST", f"{host.url}/api/chat/stream", json=ai_chat_body([("user", marker)])) as held:
                if held.status_code == 200:
                    lines = held.iter_lines()  # held: a dropped line iterator would close the connection
                    next(lines)  # the upstream accepted: the slot is taken
                    yield
                    return
            # The previous test's slot is free once its relay has closed that upstream response.
            assert time.monotonic() < deadline, "the slot was never released"
            time.sleep(0.05)


@by_route
def test_beyond_the_concurrency_cap_every_route_gets_503_at_once(
    one_stream_host: Host, simulator: Simulator, client, route: Route
):
    marker = simulator.rule(reply="never asked")
    with holding_the_only_slot(one_stream_host, simulator):
        response = route.post(client, one_stream_host, route.body(marker))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "overloaded"
    assert simulator.records(marker) == []  # refused before any upstream call
