"""Resume after a dropped connection, over real HTTP: local hosts → simulator, in-process and Redis stores.

The client is cut at a random byte of the stream (mid-line included), keeps only the events it
received whole, and resumes after the last one's id; the two halves must join into exactly the
simulator's reply, ids 1, 2, 3, ... with no gap and no repeat. With Redis, the resume also goes to
a second app instance sharing the store.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.harness import ROOT, Host, Simulator, host_env, start_host, stop
from tests.integration.redis_server import ensure_installed, redis_server

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
REPLY = "Grüße 👋🏽 from 東京 — resumed streams lose nothing: naïve café, 日本語のテキスト, and a last word."


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    accept: str
    media_type: str

    def __str__(self) -> str:
        return self.name

    def body(self, text: str, chat_id: str = "") -> dict[str, Any]:
        if self.path == "/api/ui/chat":
            parts = [{"type": "text", "text": text}]
            return {
                "id": chat_id or f"chat-{random.random()}",
                "messages": [{"id": "m1", "role": "user", "parts": parts}],
            }
        return {"messages": [{"role": "user", "content": text}]}


AI_NDJSON = Route("ai-chat-ndjson", "/api/chat/stream", "*/*", NDJSON)
AI_SSE = Route("ai-chat-sse", "/api/chat/stream", SSE, SSE)
UI = Route("ui-message", "/api/ui/chat", SSE, SSE)
RESPONSES_NDJSON = Route("responses-ndjson", "/api/responses", "*/*", NDJSON)
RESPONSES_SSE = Route("responses-sse", "/api/responses", SSE, SSE)
ROUTES = [AI_NDJSON, AI_SSE, UI, RESPONSES_NDJSON, RESPONSES_SSE]
by_route = pytest.mark.parametrize("route", ROUTES, ids=str)


@dataclass
class Event:
    id: int
    data: Any  # the decoded JSON, or "[DONE]"


def complete_events(media_type: str, data: bytes) -> list[Event]:
    """The events a client holds whole in `data`; a cut-off tail is dropped, as a client would."""
    events = []
    if media_type == NDJSON:
        for line in data.split(b"\n")[:-1]:
            if line.strip():
                obj = json.loads(line)
                events.append(Event(obj.pop("index"), obj))
        return events
    for block in data.split(b"\n\n")[:-1]:
        fields = [line for line in block.decode().split("\n") if line and not line.startswith(":")]
        if not fields:
            continue  # a keep-alive comment
        ids = [f[len("id: ") :] for f in fields if f.startswith("id: ")]
        payload = "\n".join(f[len("data: ") :] for f in fields if f.startswith("data: "))
        assert len(ids) == 1, f"every SSE event carries one id: {block!r}"
        events.append(Event(int(ids[0]), payload if payload == "[DONE]" else json.loads(payload)))
    return events


def text_of(events: list[Event]) -> str:
    texts = []
    for event in events:
        data = event.data
        if isinstance(data, dict) and data.get("type") in ("text-delta", "response.output_text.delta"):
            texts.append(data["delta"])
        elif isinstance(data, dict) and "delta" in data and isinstance(data["delta"], dict):
            texts.append(data["delta"].get("content", ""))
    return "".join(texts)


def resume_info(route: Route, first: Event) -> dict[str, Any]:
    data = first.data
    return data["messageMetadata"]["resume"] if route is UI else data["context"]["resume"]


def is_end(route: Route, event: Event) -> bool:
    data = event.data
    if route is UI:
        return data == "[DONE]"
    if route.path == "/api/responses":
        return data["type"] in ("response.completed", "error")
    return "error" in data or "finish_reason" in data.get("context", {})


def cut_stream(client: httpx.Client, host: Host, route: Route, body: dict[str, Any], cut: int) -> bytes:
    """POST, read until at least `cut` bytes arrived (or the end), drop the connection, and keep `cut` bytes."""
    received = b""
    with client.stream("POST", f"{host.url}{route.path}", json=body, headers={"Accept": route.accept}) as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_raw():
            received += chunk
            if len(received) >= cut:
                break
    return received[:cut]


def resume(client: httpx.Client, host: Host, route: Route, info: dict[str, Any], after: int) -> httpx.Response:
    headers = {"X-Resume-Token": info["token"]}
    if route.media_type == SSE:
        headers["Last-Event-ID"] = str(after)
        return client.get(f"{host.url}{info['url']}", headers=headers)
    return client.get(f"{host.url}{info['url']}", params={"after": after}, headers=headers)


def cut_and_resume(starter: Host, resumer: Host, simulator: Simulator, route: Route, seed: int) -> None:
    rng = random.Random(seed)
    marker = simulator.rule(reply=f"{REPLY} {seed}", token_ms=rng.choice((2, 5, 10)))
    with httpx.Client(timeout=30) as client:
        # Past the first line (which holds the resume token), anywhere up to past the end.
        cut = rng.randint(300, 4000)
        head = complete_events(route.media_type, cut_stream(client, starter, route, route.body(marker), cut))
        assert head and head[0].id == 1, head
        info = resume_info(route, head[0])
        response = resume(client, resumer, route, info, head[-1].id)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(route.media_type)
        tail = complete_events(route.media_type, response.content)
    events = head + tail
    assert [e.id for e in events] == list(range(1, len(events) + 1)), f"seed {seed}: gap or repeat"
    assert is_end(route, events[-1])
    assert text_of(events) == f"{REPLY} {seed}" == simulator.record(marker)["reply"]


def many(starter: Host, resumer: Host, simulator: Simulator, route: Route, count: int, base: int) -> None:
    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(cut_and_resume, starter, resumer, simulator, route, base + i) for i in range(count)]:
            future.result()


def wait_for(predicate: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def memory_host(simulator: Simulator) -> Iterator[Host]:
    started = start_host(host_env(simulator, CHAT_RESUME="memory"))
    yield started
    stop(started.process)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if why := ensure_installed():
        pytest.skip(f"REDIS RESUME TESTS SKIPPED: {why}")
    with redis_server() as url:
        yield url


@pytest.fixture(scope="module")
def redis_hosts(simulator: Simulator, redis_url: str) -> Iterator[tuple[Host, Host]]:
    first = start_host(host_env(simulator, CHAT_RESUME="redis", CHAT_REDIS_URL=redis_url))
    second = start_host(host_env(simulator, CHAT_RESUME="redis", CHAT_REDIS_URL=redis_url))
    yield first, second
    stop(first.process)
    stop(second.process)


# --- Random cuts: every resumed answer is exactly the whole answer ---------------------------------


@by_route
def test_random_cuts_resume_exactly_in_process(memory_host: Host, simulator: Simulator, route: Route):
    many(memory_host, memory_host, simulator, route, 16, 1000)


@by_route
def test_random_cuts_resume_exactly_on_redis_same_instance(redis_hosts, simulator: Simulator, route: Route):
    many(redis_hosts[0], redis_hosts[0], simulator, route, 12, 2000)


@by_route
def test_random_cuts_resume_exactly_on_the_other_instance(redis_hosts, simulator: Simulator, route: Route):
    many(redis_hosts[0], redis_hosts[1], simulator, route, 12, 3000)


# --- The first line, and who may resume ------------------------------------------------------------


@by_route
def test_the_first_line_says_how_to_resume(memory_host: Host, simulator: Simulator, route: Route):
    marker = simulator.rule(tokens=5)
    with httpx.Client(timeout=30) as client:
        response = client.post(
            f"{memory_host.url}{route.path}", json=route.body(marker), headers={"Accept": route.accept}
        )
    events = complete_events(route.media_type, response.content)
    info = resume_info(route, events[0])
    assert len(info["streamId"]) >= 22 and len(info["token"]) >= 32  # 128 and 192 random bits
    expected = f"{route.path}/{info['streamId']}" if route is not UI else None
    assert info["url"] == expected or info["url"].startswith("/api/ui/chat/chat-")
    assert [e.id for e in events] == list(range(1, len(events) + 1))


@by_route
def test_only_the_token_holder_may_resume_and_a_miss_reveals_nothing(
    memory_host: Host, simulator: Simulator, route: Route
):
    marker = simulator.rule(tokens=5)
    with httpx.Client(timeout=30) as client:
        response = client.post(
            f"{memory_host.url}{route.path}", json=route.body(marker), headers={"Accept": route.accept}
        )
        info = resume_info(route, complete_events(route.media_type, response.content)[0])
        wrong = client.get(
            f"{memory_host.url}{info['url']}",
            headers={"X-Resume-Token": info["token"][:-1] + ("y" if info["token"].endswith("x") else "x")},
        )
        missing = client.get(f"{memory_host.url}{info['url']}")
        unknown_url = info["url"].replace(info["streamId"], "A" * 22) if route is not UI else "/api/ui/chat/nope/stream"
        unknown = client.get(f"{memory_host.url}{unknown_url}", headers={"X-Resume-Token": info["token"]})
        right = client.get(f"{memory_host.url}{info['url']}", params={"token": info["token"]})
    assert right.status_code == 200 and text_of(complete_events(route.media_type, right.content))
    for refused in (wrong, missing, unknown):
        if route is UI:
            assert refused.status_code == 204 and refused.content == b""  # what useChat takes as "nothing"
        else:
            assert refused.status_code == 404
            assert refused.json() == {"error": {"code": "not_found", "message": "There is no stream to resume here."}}


def test_a_bad_after_is_a_400(memory_host: Host, simulator: Simulator):
    marker = simulator.rule(tokens=3)
    with httpx.Client(timeout=30) as client:
        response = client.post(f"{memory_host.url}/api/chat/stream", json=AI_NDJSON.body(marker))
        info = resume_info(AI_NDJSON, complete_events(NDJSON, response.content)[0])
        bad = client.get(
            f"{memory_host.url}{info['url']}", params={"after": "-1"}, headers={"X-Resume-Token": info["token"]}
        )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "after"


# --- Generation outlives the client; cancel stops it -----------------------------------------------


def test_the_answer_goes_on_after_the_client_drops_and_resumes_whole(memory_host: Host, simulator: Simulator):
    marker = simulator.rule(tokens=60, token_ms=20)
    with httpx.Client(timeout=30) as client:
        head = complete_events(NDJSON, cut_stream(client, memory_host, AI_NDJSON, AI_NDJSON.body(marker), 400))
        simulator.wait_for(marker, lambda r: r["finished"])  # nobody reading, and still the model finished
        record = simulator.record(marker)
        assert not record["closed_early"] and record["tokens_sent"] == 60
        info = resume_info(AI_NDJSON, head[0])
        tail = complete_events(NDJSON, resume(client, memory_host, AI_NDJSON, info, head[-1].id).content)
    assert text_of(head + tail) == record["reply"]


@pytest.fixture(scope="module")
def short_grace_host(simulator: Simulator) -> Iterator[Host]:
    started = start_host(host_env(simulator, CHAT_RESUME="memory", CHAT_RESUME_GRACE_SECONDS="2"))
    yield started
    stop(started.process)


def test_nobody_coming_back_within_the_grace_period_closes_the_upstream(short_grace_host: Host, simulator: Simulator):
    marker = simulator.rule(tokens=400, token_ms=20)
    with httpx.Client(timeout=30) as client:
        cut_stream(client, short_grace_host, AI_NDJSON, AI_NDJSON.body(marker), 400)
    record = simulator.wait_for(marker, lambda r: r["ended_at"] is not None)
    assert record["closed_early"] and record["tokens_sent"] < 400
    assert "nobody resumed stream" in short_grace_host.log


def test_a_resumer_keeps_the_answer_going_past_the_grace_period(short_grace_host: Host, simulator: Simulator):
    """Grace 2 s, answer about 6 s: the resumer's lease keeps it going to the end."""
    marker = simulator.rule(tokens=300, token_ms=20)
    with httpx.Client(timeout=30) as client:
        head = complete_events(NDJSON, cut_stream(client, short_grace_host, AI_NDJSON, AI_NDJSON.body(marker), 400))
        info = resume_info(AI_NDJSON, head[0])
        tail = complete_events(NDJSON, resume(client, short_grace_host, AI_NDJSON, info, head[-1].id).content)
    record = simulator.record(marker)
    assert record["finished"] and not record["closed_early"]
    assert text_of(head + tail) == record["reply"]


def cancel_url(route: Route, info: dict[str, Any]) -> str:
    return f"{info['url']}/cancel"


@pytest.mark.parametrize("same_instance", [True, False], ids=["same-instance", "other-instance"])
def test_cancel_closes_the_upstream_at_once_on_any_instance(redis_hosts, simulator: Simulator, same_instance: bool):
    starter, other = redis_hosts
    canceller = starter if same_instance else other
    marker = simulator.rule(tokens=1000, token_ms=20)
    with httpx.Client(timeout=30) as client:
        head = complete_events(NDJSON, cut_stream(client, starter, AI_NDJSON, AI_NDJSON.body(marker), 400))
        info = resume_info(AI_NDJSON, head[0])
        response = client.post(
            f"{canceller.url}{cancel_url(AI_NDJSON, info)}", headers={"X-Resume-Token": info["token"]}
        )
        assert response.status_code == 204
        record = simulator.wait_for(marker, lambda r: r["ended_at"] is not None)
        assert record["closed_early"] and record["tokens_sent"] < 1000
        tail = complete_events(NDJSON, resume(client, other, AI_NDJSON, info, head[-1].id).content)
    assert tail[-1].data["error"]["code"] == "cancelled"
    assert [e.id for e in head + tail] == list(range(1, len(head + tail) + 1))


def test_cancel_of_a_live_stream_ends_it_with_an_error_line_and_is_logged_as_a_cancel(
    memory_host: Host, simulator: Simulator
):
    marker = simulator.rule(tokens=400, token_ms=20)
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{memory_host.url}/api/chat/stream", json=AI_NDJSON.body(marker)) as live,
    ):
        lines = live.iter_lines()
        first = json.loads(next(lines))
        info, request_id = first["context"]["resume"], first["context"]["requestId"]
        with httpx.Client(timeout=30) as other:
            cancelled = other.post(f"{memory_host.url}{info['url']}/cancel", headers={"X-Resume-Token": info["token"]})
        assert cancelled.status_code == 204
        rest = [json.loads(line) for line in lines if line]
    assert rest[-1]["error"]["code"] == "cancelled"
    assert simulator.wait_for(marker, lambda r: r["ended_at"] is not None)["closed_early"]
    wait_for(lambda: f"stream {info['streamId']} cancelled by its client" in memory_host.log, "the cancel's log line")
    memory_host.request_record(request_id, timeout=15)
    assert f"client went away; upstream closed (request {request_id})" not in memory_host.log


def test_a_wrong_token_cannot_cancel(memory_host: Host, simulator: Simulator):
    marker = simulator.rule(tokens=3)
    with httpx.Client(timeout=30) as client:
        response = client.post(f"{memory_host.url}/api/chat/stream", json=AI_NDJSON.body(marker))
        info = resume_info(AI_NDJSON, complete_events(NDJSON, response.content)[0])
        refused = client.post(f"{memory_host.url}{info['url']}/cancel", headers={"X-Resume-Token": "guess"})
    assert refused.status_code == 404


# --- The per-client limits hold with resume on -----------------------------------------------------

_addresses = (f"127.0.1.{n}" for n in itertools.count(2))


def client_from_own_address() -> httpx.Client:
    """A client of its own: the host keys the limits by the connection's address (chat/limits.py)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=next(_addresses)), timeout=30)


@pytest.fixture(scope="module")
def limited_host(simulator: Simulator) -> Iterator[Host]:
    limits = {"CHAT_CLIENT_CONCURRENT_STREAMS": "1", "CHAT_CLIENT_REQUESTS_PER_MINUTE": "5"}
    started = start_host(host_env(simulator, CHAT_RESUME="memory", **limits))
    yield started
    stop(started.process)


def test_a_detached_answer_holds_its_clients_slot_until_it_ends(limited_host: Host, simulator: Simulator):
    """Else a client could drop and start streams one after another, each generating on unwatched."""
    marker = simulator.rule(tokens=1000, token_ms=20)
    with client_from_own_address() as client:
        head = complete_events(NDJSON, cut_stream(client, limited_host, AI_NDJSON, AI_NDJSON.body(marker), 400))
        info = resume_info(AI_NDJSON, head[0])
        wait_for(lambda: f"stream {info['streamId']})" in limited_host.log, "the host to notice the drop")
        assert "answer goes on for a resumer" in limited_host.log
        refused = client.post(f"{limited_host.url}/api/chat/stream", json=AI_NDJSON.body(simulator.rule(tokens=3)))
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_streams"
        client.post(f"{limited_host.url}{info['url']}/cancel", headers={"X-Resume-Token": info["token"]})
        # The end of the answer is logged after its slot is freed, so once a resume shows it the slot is free.
        tail = complete_events(NDJSON, resume(client, limited_host, AI_NDJSON, info, head[-1].id).content)
        assert tail[-1].data["error"]["code"] == "cancelled"
        admitted = client.post(f"{limited_host.url}/api/chat/stream", json=AI_NDJSON.body(simulator.rule(tokens=3)))
    assert admitted.status_code == 200


def test_resume_and_cancel_requests_count_against_the_request_rate(limited_host: Host):
    with client_from_own_address() as client, client_from_own_address() as bystander:
        unknown = f"{limited_host.url}/api/chat/stream/{'A' * 22}"
        answers = [client.get(unknown, headers={"X-Resume-Token": "t"}).status_code for _ in range(3)]
        answers += [client.post(f"{unknown}/cancel", headers={"X-Resume-Token": "t"}).status_code for _ in range(2)]
        limited = client.get(unknown, headers={"X-Resume-Token": "t"})
        other = bystander.get(unknown, headers={"X-Resume-Token": "t"})
    assert answers == [404] * 5
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "too_many_requests"
    assert int(limited.headers["retry-after"]) > 0
    assert other.status_code == 404  # another client's quota is its own


# --- Off, store down, bounded memory ---------------------------------------------------------------


def test_resume_off_is_todays_stream_and_the_routes_say_nothing(host: Host, simulator: Simulator):
    marker = simulator.rule(tokens=3)
    with httpx.Client(timeout=30) as client:
        response = client.post(f"{host.url}/api/chat/stream", json=AI_NDJSON.body(marker))
        first = json.loads(response.text.split("\n")[0])
        assert "resume" not in first["context"] and "index" not in first
        assert client.get(f"{host.url}/api/chat/stream/{'A' * 22}", params={"token": "x"}).status_code == 404
        assert client.get(f"{host.url}/api/ui/chat/some-chat/stream").status_code == 204


@pytest.fixture(scope="module")
def store_down_host(simulator: Simulator) -> Iterator[Host]:
    from dev.host import free_port

    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    started = start_host(host_env(simulator, CHAT_RESUME="redis", CHAT_REDIS_URL=nothing_there))
    yield started
    stop(started.process)


@by_route
def test_store_unavailable_streams_without_resume_and_says_so(
    store_down_host: Host, simulator: Simulator, route: Route
):
    marker = simulator.rule(reply=REPLY)
    with httpx.Client(timeout=30) as client:
        response = client.post(
            f"{store_down_host.url}{route.path}", json=route.body(marker), headers={"Accept": route.accept}
        )
    assert response.status_code == 200
    # Without resume, no event carries an id: read the payloads alone.
    events = [
        Event(0, line if line == "[DONE]" else json.loads(line))
        for line in (raw.removeprefix("data: ") for raw in response.text.split("\n"))
        if line.strip() and not line.startswith("event: ")
    ]
    assert resume_info(route, events[0]) == {"available": False}
    content = text_of(events)
    assert content == REPLY
    assert "resume unavailable for request" in store_down_host.log


@pytest.fixture(scope="module")
def small_budget_host(simulator: Simulator) -> Iterator[Host]:
    started = start_host(host_env(simulator, CHAT_RESUME="memory", CHAT_RESUME_MAX_STREAM_BYTES="2048"))
    yield started
    stop(started.process)


def test_a_stream_past_its_byte_budget_streams_whole_but_is_not_resumable(
    small_budget_host: Host, simulator: Simulator
):
    marker = simulator.rule(tokens=200)
    with httpx.Client(timeout=30) as client:
        response = client.post(f"{small_budget_host.url}/api/chat/stream", json=AI_NDJSON.body(marker))
        events = complete_events(NDJSON, response.content)
        assert text_of(events) == simulator.record(marker)["reply"]
        info = resume_info(AI_NDJSON, events[0])
        assert resume(client, small_budget_host, AI_NDJSON, info, 1).status_code == 404
    wait_for(lambda: "no longer logged for resume" in small_budget_host.log, "the budget warning")


# --- The AI SDK's own reconnect ---------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
@pytest.mark.parametrize("sdk", ["ai", "ai-sdk-5"])
@pytest.mark.parametrize("where", ["memory", "redis-other-instance"])
def test_the_ai_sdk_reconnects_and_rebuilds_the_whole_message(request, simulator: Simulator, sdk: str, where: str):
    if where == "memory":
        starter = resumer = request.getfixturevalue("memory_host")
    else:
        starter, resumer = request.getfixturevalue("redis_hosts")
    marker = simulator.rule(reply=REPLY, token_ms=10)
    chat_id = f"chat-{random.randrange(10**9)}"
    js = ROOT / "tests" / "js"
    if not (js / "node_modules" / "ai").exists():
        pytest.fail("run `make js-deps` (npm ci in tests/js) first")
    args = [sdk, f"{starter.url}/api/ui/chat", f"{resumer.url}/api/ui/chat", chat_id, marker, "400"]
    run = subprocess.run(["node", "ui-resume.mjs", *args], cwd=js, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["wrongToken"] is None  # 204: useChat's "nothing to resume"
    assert seen["errors"] == []
    texts = [part["text"] for part in seen["message"]["parts"] if part["type"] == "text"]
    assert texts == [REPLY] == [simulator.record(marker)["reply"]]
