"""A lean HTTP/1.1 client for the load test: one keep-alive connection per simulated user.

httpx, or even asyncio streams, cost tens of microseconds per received chunk; with hundreds of
streams on a 2-core machine that made the load generator, not the host, the bottleneck (and
inflated the TTFT it measured). This client is an `asyncio.Protocol`: each arrival is appended
to a buffer, de-chunked incrementally, and time-stamped when it holds the first content delta.
The lines are parsed and checked after the stream ends.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

# Every content line of the protocol carries this, and no other line does (see chat.protocol.LineEncoder).
CONTENT_MARK = b'"assistant","content":'


@dataclass
class Response:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    sent_at: float = 0.0
    headers_at: float | None = None
    first_content_at: float | None = None
    ended_at: float | None = None
    transport_error: str | None = None

    @property
    def ttft(self) -> float | None:
        return None if self.first_content_at is None else self.first_content_at - self.sent_at


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._last = b""
        self._response: Response | None = None
        self._done: asyncio.Future[bool] | None = None
        self._started: asyncio.Event | None = None
        self._in_body = False
        self._chunked = False
        self._remaining = -1  # bytes of body left (length-delimited), or of the current chunk incl. CRLF

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def begin(self, response: Response, done: asyncio.Future[bool], started: asyncio.Event | None) -> None:
        self._response, self._done, self._started = response, done, started
        self._buffer.clear()
        self._last = b""
        self._in_body = self._chunked = False
        self._remaining = -1

    def data_received(self, data: bytes) -> None:
        response = self._response
        if response is None:
            return
        if response.first_content_at is None and CONTENT_MARK in self._last + data:
            response.first_content_at = time.perf_counter()  # the mark may straddle two reads
        self._last = data[-len(CONTENT_MARK) :]
        self._buffer += data
        try:
            self._parse(response)
        except ValueError as exc:
            self._finish(error=f"malformed response: {exc}")

    def _parse(self, response: Response) -> None:
        buffer = self._buffer
        if not self._in_body:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            del buffer[: end + 4]
            response.headers_at = time.perf_counter()
            response.status = int(lines[0].split(" ", 2)[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                response.headers[name.strip().lower()] = value.strip()
            self._in_body = True
            self._chunked = response.headers.get("transfer-encoding", "").lower() == "chunked"
            if not self._chunked:
                self._remaining = int(response.headers.get("content-length", "-1"))
        if not self._chunked:
            if self._remaining >= 0 and len(buffer) >= self._remaining:
                response.body += buffer[: self._remaining]
                self._finish(keep=response.headers.get("connection", "").lower() != "close")
            return
        position = 0
        while True:
            if self._remaining < 0:  # at a chunk header
                line_end = buffer.find(b"\r\n", position)
                if line_end < 0:
                    break
                size = int(bytes(buffer[position:line_end]).split(b";", 1)[0], 16)
                if size == 0:
                    # No trailers from our servers: the last chunk is "0\r\n\r\n"; wait for all of it.
                    if len(buffer) - line_end >= 4:
                        self._finish(keep=response.headers.get("connection", "").lower() != "close")
                        return
                    break
                position = line_end + 2
                self._remaining = size + 2
                if self._started is not None:
                    self._started.set()
            available = len(buffer) - position
            if available < self._remaining:
                break
            response.body += buffer[position : position + self._remaining - 2]
            position += self._remaining
            self._remaining = -1
        del buffer[:position]

    def _finish(self, keep: bool = False, error: str | None = None) -> None:
        if self._response is not None and error is not None:
            self._response.transport_error = error
        if self._done is not None and not self._done.done():
            self._done.set_result(keep and error is None)
        self._response = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self._response
        if response is not None and not self._chunked and self._in_body and self._remaining < 0:
            response.body += self._buffer  # body delimited by the connection closing
            self._finish()
        elif response is not None:
            self._finish(error=f"connection closed mid-response ({exc or 'EOF'})")


class Connection:
    """One keep-alive connection; reopened when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._protocol: _Protocol | None = None

    async def post(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        started: asyncio.Event | None = None,
    ) -> Response:
        """POST and read the whole response; `started` is set once the first body chunk arrived."""
        response = Response()
        loop = asyncio.get_running_loop()
        try:
            if self._protocol is None or self._protocol.closed:
                _, self._protocol = await loop.create_connection(_Protocol, self.host, self.port)
            protocol = self._protocol
            head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in {"Content-Type": "application/json", **(headers or {})}.items()]
            done: asyncio.Future[bool] = loop.create_future()
            protocol.begin(response, done, started)
            response.sent_at = time.perf_counter()
            assert protocol.transport is not None
            protocol.transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            if not await done:
                self.close()
        except (OSError, ValueError) as exc:
            response.transport_error = f"{type(exc).__name__}: {exc}"
            self.close()
        except asyncio.CancelledError:
            self.close()
            raise
        response.ended_at = time.perf_counter()
        return response

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
