"""Per-client limits, deadlines and the client key, over real HTTP through the local host (issue #12).

Each test speaks from its own loopback addresses (127.0.0.2 and up): the local host, like the
Functions host's proxy, writes the address it received the connection from into X-Forwarded-For,
so each address is a client of its own, and a header a client sends changes nothing.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from dev.simulator import tokenize
from tests.harness import RECORD, Host, Simulator, host_env, start_host, stop, user

LIMITS = {
    "CHAT_CLIENT_REQUESTS_PER_MINUTE": "10",
    "CHAT_CLIENT_CONCURRENT_STREAMS": "2",
    "CHAT_CLIENT_TOKENS_PER_MINUTE": "6000",
    "CHAT_MAX_INPUT_BYTES": "4000",
    "CHAT_MAX_OUTPUT_TOKENS": "200",
    "CHAT_MAX_MESSAGES": "10",
    "CHAT_BODY_TIMEOUT_SECONDS": "1",
}
# What one request reserves with these settings: its content's UTF-8 bytes, 8 framing tokens a
# message, 16 for the reply, and the output cap (chat.settings.Settings.input_token_bound).
BIG = 3000  # bytes: 3,224 reserved, so two cannot be in flight under 6,000


def reservation(content_bytes: int) -> int:
    return content_bytes + 8 + 16 + 200


_addresses = (f"127.0.0.{n}" for n in itertools.count(2))


class Client:
    """One client: every connection it makes comes from its own loopback address."""

    def __init__(self, host: Host) -> None:
        self.address = next(_addresses)
        self.host = host
        self.http = httpx.Client(transport=httpx.HTTPTransport(local_address=self.address), timeout=30)

    def post(self, path: str, body: Any, **headers: str) -> httpx.Response:
        return self.http.post(f"{self.host.url}{path}", json=body, headers=headers)

    def stream(self, body: Any, path: str = "/api/chat/stream") -> httpx.Response:
        """A stream left open at its first text delta; the caller reads on or closes it."""
        response = self.http.send(self.http.build_request("POST", f"{self.host.url}{path}", json=body), stream=True)
        if response.status_code == 200:
            lines = response.iter_lines()
            response.lines = lines  # type: ignore[attr-defined]
            next(line for line in lines if '"content"' in line)
        return response

    def socket(self) -> socket.socket:
        parts = urlsplit(self.host.url)
        return socket.create_connection((parts.hostname, parts.port), timeout=20, source_address=(self.address, 0))


@pytest.fixture(scope="module")
def limited_host(simulator: Simulator) -> Iterator[Host]:
    started = start_host(host_env(simulator, **LIMITS), "--request-headers-timeout", "1")
    yield started
    stop(started.process)


@pytest.fixture(scope="module")
def one_slot_host(simulator: Simulator) -> Iterator[Host]:
    started = start_host(host_env(simulator, CHAT_MAX_CONCURRENT_STREAMS="1"))
    yield started
    stop(started.process)


def assert_limited(response: httpx.Response, code: str) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert 1 <= int(response.headers["retry-after"]) <= 60


def text_of(response: httpx.Response) -> str:
    events = [json.loads(line) for line in response.text.split("\n") if line.strip()]
    return "".join(e.get("delta", {}).get("content", "") for e in events)


def test_requests_a_minute_are_counted_per_client(limited_host: Host, simulator: Simulator):
    a, b = Client(limited_host), Client(limited_host)
    ids = []
    for i in range(10):
        path = "/api/chat/stream" if i % 2 else "/api/chat"
        response = a.post(path, user(f"hello {i}"))
        assert response.status_code == 200, response.text
        ids.append(response.headers["x-request-id"])
    assert_limited(a.post("/api/chat", user("one more")), "too_many_requests")
    assert_limited(a.post("/api/chat/stream", user("one more")), "too_many_requests")
    # Every route goes through the same limits.
    ui = {"id": "c", "messages": [{"id": "m", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
    assert_limited(a.post("/api/ui/chat", ui), "too_many_requests")
    assert_limited(a.post("/api/responses", {"input": "hi"}), "too_many_requests")
    # Another client is not affected.
    marker = simulator.rule(reply="yours, untouched")
    answer = b.post("/api/chat/stream", user(marker))
    assert answer.status_code == 200 and text_of(answer) == "yours, untouched"
    # The record names the client by a keyed hash: the same for all of a's requests, another for b's.
    clients = {limited_host.request_record(request_id)["client"] for request_id in ids}
    b_client = limited_host.request_record(answer.headers["x-request-id"])["client"]
    assert len(clients) == 1 and b_client not in clients and len(b_client) == 16
    records = [line for line in limited_host.log.splitlines() if RECORD in line]
    assert not any(a.address in line or b.address in line for line in records)


def test_a_forwarded_for_header_from_the_client_buys_no_fresh_quota(limited_host: Host):
    a = Client(limited_host)
    for i in range(10):
        assert a.post("/api/chat", user(f"hi {i}")).status_code == 200
    forged = [
        {"X-Forwarded-For": "198.51.100.7"},
        {"X-Forwarded-For": "198.51.100.7, 198.51.100.8"},
        {"X-Forwarded-For": a.address},
        {"X-Client-IP": "198.51.100.9", "X-Real-IP": "198.51.100.9", "Forwarded": "for=198.51.100.9"},
    ]
    for headers in forged:
        assert_limited(a.post("/api/chat", user("fresh quota?"), **headers), "too_many_requests")


def test_requests_in_flight_are_limited_per_client_and_freed_when_they_end(limited_host: Host, simulator: Simulator):
    a, b = Client(limited_host), Client(limited_host)
    slow = [simulator.rule(tokens=150, token_ms=50) for _ in range(2)]
    first, second = (a.stream(user(marker)) for marker in slow)
    assert first.status_code == second.status_code == 200
    assert_limited(a.post("/api/chat/stream", user("a third")), "too_many_streams")
    assert_limited(a.post("/api/chat", user("a third")), "too_many_streams")
    marker = simulator.rule(reply="meanwhile, fine")
    assert text_of(b.post("/api/chat/stream", user(marker))) == "meanwhile, fine"
    first.close()  # a leaves one stream: the upstream closes, and its slot is free
    simulator.wait_for(slow[0], lambda r: r["closed_early"])
    assert a.post("/api/chat", user("now there is room")).status_code == 200
    rest = [line for line in second.lines if line]  # type: ignore[attr-defined]  # the other one runs to its end
    assert json.loads(rest[-1])["context"]["finish_reason"] == "stop"
    second.close()
    limited_host.request_record(second.headers["x-request-id"])
    assert a.post("/api/chat", user("and again")).status_code == 200


def test_tokens_are_reserved_when_admitted_and_settled_when_done(limited_host: Host, simulator: Simulator):
    a, b = Client(limited_host), Client(limited_host)

    def big(marker: str) -> dict[str, Any]:
        return user(marker + " " + "x" * (BIG - len(marker) - 1))

    assert 2 * reservation(BIG) > int(LIMITS["CHAT_CLIENT_TOKENS_PER_MINUTE"]) > reservation(BIG) + reservation(40)
    running = a.stream(big(simulator.rule(tokens=150, token_ms=20)))
    assert running.status_code == 200
    # While it runs, its whole possible cost is counted: no room for a second large request ...
    assert_limited(a.post("/api/chat/stream", big("second")), "too_many_tokens")
    # ... but room for a small one, and other clients have their own minute.
    assert a.post("/api/chat", user("small")).status_code == 200
    assert b.post("/api/chat", big("b's own")).status_code == 200
    rest = [line for line in running.lines if line]  # type: ignore[attr-defined]
    assert json.loads(rest[-1])["context"]["finish_reason"] == "stop"
    running.close()
    record = limited_host.request_record(running.headers["x-request-id"])
    assert record["prompt_tokens"] + record["completion_tokens"] < reservation(BIG) // 10
    # Settled to what the upstream counted: the large request fits again.
    assert a.post("/api/chat", big("third")).status_code == 200
    # A stream the client leaves keeps its reservation: its tokens may have been billed.
    leaving = simulator.rule(tokens=150, token_ms=50)
    a.stream(big(leaving)).close()
    simulator.wait_for(leaving, lambda r: r["closed_early"])
    assert_limited(a.post("/api/chat", big("fourth")), "too_many_tokens")
    assert a.post("/api/chat", user("small again")).status_code == 200


def test_one_client_hammering_does_not_touch_another_clients_stream(limited_host: Host, simulator: Simulator):
    """The bystander's streams complete, exact and delta by delta, while the hammering goes on around them."""
    hammerer, bystander = Client(limited_host), Client(limited_host)
    reply = " ".join(f"word{i} café 🚀" for i in range(30))
    marker = simulator.rule(reply=reply, token_ms=5)
    stop_hammering = threading.Event()
    statuses: list[tuple[float, int]] = []

    def hammer() -> None:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=hammerer.address), timeout=30) as http:
            while not stop_hammering.is_set():
                response = http.post(f"{limited_host.url}/api/chat/stream", json=user("spend"))
                statuses.append((time.monotonic(), response.status_code))

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(1 for _, status in statuses if status == 429) < 20:  # the hammerer is being refused
        assert time.monotonic() < deadline, statuses[-5:]
        time.sleep(0.01)
    windows = []
    for _ in range(3):
        started = time.monotonic()
        response = bystander.post("/api/chat/stream", user(marker))
        windows.append((started, time.monotonic()))
        assert response.status_code == 200
        events = [json.loads(line) for line in response.text.split("\n") if line.strip()]
        deltas = [e["delta"]["content"] for e in events if "content" in e.get("delta", {})]
        assert deltas == tokenize(reply)  # every delta, in order
        assert events[-1]["context"]["finish_reason"] == "stop"
    stop_hammering.set()
    for thread in threads:
        thread.join(30)
    assert {status for _, status in statuses} <= {200, 429}
    # The hammering went on during each of the bystander's streams, not only before or after them.
    for started, ended in windows:
        assert any(started < at < ended for at, status in statuses if status == 429)


def test_a_body_that_does_not_arrive_in_time_is_a_408(limited_host: Host):
    a = Client(limited_host)
    head = (
        "POST /api/chat/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    with a.socket() as sock:
        sock.sendall(head.encode() + b'{"messages":')
        sock.settimeout(0.2)
        answer, deadline = b"", time.monotonic() + 20
        while b"body_timeout" not in answer and time.monotonic() < deadline:  # keeps trickling: the deadline
            # is for the whole body, not for each byte
            try:
                sock.sendall(b" ")
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"code":"body_timeout"' in answer
    assert a.post("/api/chat", user("the slot was freed")).status_code == 200


@pytest.mark.parametrize("trickle", [False, True], ids=["stalled", "trickling"])
def test_a_request_head_that_does_not_arrive_in_time_is_a_408(limited_host: Host, trickle: bool):
    """The local host gives the request line and headers a deadline, as Kestrel does (here 1 s)."""
    head = b"POST /api/chat/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + b"X-Pad: " + b"a" * 200
    with Client(limited_host).socket() as sock:
        sock.settimeout(0.1 if trickle else 20)
        answer = b""
        sock.sendall(head[:20])
        for byte in head[20:] if trickle else b"":  # one byte at a time: the clock does not restart
            try:
                sock.sendall(bytes([byte]))
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if answer:
                break
        sock.settimeout(20)
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert b"connection: close" in answer.lower()


def test_a_chat_caller_who_leaves_frees_the_upstream_and_its_slot(one_slot_host: Host, simulator: Simulator):
    """`/api/chat` (not streamed) cancels its upstream call when the client goes: with one upstream
    call allowed in the worker, the next request is answered at once, not refused with a 503."""
    marker = simulator.rule(tokens=200, token_ms=50)
    with httpx.Client(timeout=30) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post(f"{one_slot_host.url}/api/chat", json=user(marker), timeout=httpx.Timeout(30, read=1.0))
        record = simulator.wait_for(marker, lambda r: r["ended_at"] is not None)
        assert record["closed_early"] is True and not record["finished"] and record["tokens_sent"] < 200
        deadline = time.monotonic() + 10
        while not any(r["cancelled"] for r in one_slot_host.request_records()):  # logged after its slot is freed
            assert time.monotonic() < deadline, one_slot_host.log[-2000:]
            time.sleep(0.05)
        response = client.post(f"{one_slot_host.url}/api/chat", json=user("next"))
        assert response.status_code == 200, response.text
