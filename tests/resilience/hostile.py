"""What the resilience tests share: the check every answer must pass, a raw HTTP/1.1 exchange,
and the bystander stream that must not notice anything.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.harness import Simulator

# Text that must never reach a client: a traceback, a source path, an exception's repr.
LEAKS = (b"Traceback", b'File "', b".py", b"Exception", b"Error(", b"object at 0x", b"<class ", b"site-packages")


class Verdict(Exception):
    """An answer that breaks the rules: a 5xx, leaked exception text, a malformed body."""


def check_answer(status: int, content_type: str, body: bytes, *, streaming: bool) -> None:
    """Raise `Verdict` unless the answer is a clean success or a clean `{"error": ...}` refusal."""
    if status >= 500:
        raise Verdict(f"status {status}: {body[:300]!r}")
    if status != 200:
        _no_leaks(body)
        error = _json(body).get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise Verdict(f"status {status} without an error object: {body[:300]!r}")
        if not isinstance(error.get("message"), str):
            raise Verdict(f"error without a message: {body[:300]!r}")
        return
    events = [_json(body)] if not streaming else stream_events(content_type, body)
    # sessionState is the client's own value, echoed back: only the rest is the server's text.
    _no_leaks(json.dumps([{k: v for k, v in e.items() if k != "sessionState"} for e in events]).encode())
    if not streaming:
        if not isinstance(events[0].get("message", {}).get("content"), str):
            raise Verdict(f"200 without a message: {body[:300]!r}")
        return
    if not events:
        raise Verdict("200 stream without a line")
    last = events[-1]
    if "error" not in last and not last.get("context", {}).get("finish_reason"):
        raise Verdict(f"stream ended without a final line or an error line: {body[-300:]!r}")


def _no_leaks(text: bytes) -> None:
    for leak in LEAKS:
        if leak in text:
            raise Verdict(f"body leaks {leak!r}: {text[:300]!r}")


def stream_events(content_type: str, body: bytes) -> list[dict[str, Any]]:
    text = body.decode("utf-8")
    if content_type.startswith("text/event-stream"):
        if not text.endswith("\n\n"):
            raise Verdict(f"unterminated SSE event: {text[-200:]!r}")
        return [json.loads(b[len("data: ") :]) for b in text.split("\n\n") if b.startswith("data: ")]
    if content_type.startswith("application/x-ndjson"):
        if not text.endswith("\n"):
            raise Verdict(f"unterminated NDJSON line: {text[-200:]!r}")
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    raise Verdict(f"stream with content-type {content_type!r}")


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise Verdict(f"not JSON: {body[:300]!r}") from None
    if not isinstance(value, dict):
        raise Verdict(f"not a JSON object: {body[:300]!r}")
    return value


@dataclass
class RawAnswer:
    status: int | None  # None: the server closed without answering
    head: bytes
    seconds: float


def raw_exchange(
    address: tuple[str, int],
    request: bytes,
    *,
    half_close: bool = False,
    keep_sending: bytes | None = None,
    timeout: float = 10.0,
) -> RawAnswer:
    """Send bytes as they are and read the first response's status line and headers.

    `keep_sending` is written again and again (bounded by `timeout`) while waiting for the
    answer: a body that never ends.
    """
    started = time.monotonic()
    deadline = started + timeout
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        sock.settimeout(0.05 if keep_sending else timeout)
        while b"\r\n\r\n" not in received:
            if time.monotonic() > deadline:
                raise Verdict(f"no answer within {timeout}s (hang)")
            if keep_sending:
                try:
                    sock.sendall(keep_sending)
                except OSError:
                    keep_sending = None  # the server stopped reading: now just read
                    sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if not keep_sending:
                    raise Verdict(f"no answer within {timeout}s (hang)") from None
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                break
            received += data
    seconds = time.monotonic() - started
    if not received:
        return RawAnswer(None, b"", seconds)
    status = int(received.split(b" ", 2)[1])
    return RawAnswer(status, received.split(b"\r\n\r\n", 1)[0], seconds)


@dataclass
class Bystander:
    """Streams one known reply again and again, in its own thread, and notes any difference."""

    url: str
    marker: str
    reply: str
    streams: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def start(cls, host_url: str, sim: Simulator) -> Bystander:
        reply = " ".join(f"word{i} café 🚀" for i in range(40))
        bystander = cls(f"{host_url}/api/chat/stream", sim.rule(reply=reply, token_ms=5), reply)
        bystander._thread = threading.Thread(target=bystander._run, name="bystander", daemon=True)
        bystander._thread.start()
        return bystander

    def _run(self) -> None:
        body = {"messages": [{"role": "user", "content": f"{self.marker} keep streaming"}]}
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                sse = self.streams % 2 == 1
                headers = {"Accept": "text/event-stream"} if sse else {}
                try:
                    response = client.post(self.url, json=body, headers=headers)
                    events = stream_events(response.headers.get("content-type", ""), response.content)
                    text = "".join(e.get("delta", {}).get("content", "") for e in events)
                    if response.status_code != 200 or text != self.reply:
                        self.failures.append(f"status {response.status_code}, text {text[:60]!r}")
                    elif events[-1].get("context", {}).get("finish_reason") != "stop":
                        self.failures.append(f"no final line: {events[-1]}")
                except (httpx.HTTPError, Verdict, ValueError) as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                self.streams += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
