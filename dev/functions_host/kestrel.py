"""What Kestrel, the host's web server, enforces before a request exists: a deadline for its head.

uvicorn has none: a connection that sends half a request line and stops is held for ever, and
enough of them exhaust the server (slowloris). Kestrel gives the request line and headers
`KestrelServerLimits.RequestHeadersTimeout` (30 s by default) from their first byte, does not
restart the clock on each byte, and then answers `408 Request Timeout` with `Connection: close`
(aspnetcore, `RequestHeadersTimeoutTests`). A connection that sends nothing at all is closed
without an answer after `KeepAliveTimeout` (130 s by default).
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_HEADERS_TIMEOUT = 30.0
KEEP_ALIVE_TIMEOUT = 130.0
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def with_head_deadline(seconds: float = REQUEST_HEADERS_TIMEOUT) -> type[H11Protocol]:
    """uvicorn's h11 protocol, with Kestrel's deadlines for a request's head (`seconds`) and for a silent connection."""

    class HeadDeadline(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_started = False
            self._deadline: asyncio.TimerHandle | None = self.loop.call_later(KEEP_ALIVE_TIMEOUT, self._expire)

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE and not self._head_started:  # a request's first bytes
                self._head_started = True
                self._disarm()
                self._deadline = self.loop.call_later(seconds, self._expire)
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # its head is in
                self._head_started = False
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
                return
            if self._head_started:
                self.transport.write(_TIMED_OUT)
            self.transport.close()

    return HeadDeadline
