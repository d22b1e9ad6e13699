"""A lean HTTP/1.1 client for the load test: one keep-alive connection per simulated user.

httpx costs tens of microseconds per received line; with hundreds of streams on a 2-core
machine that would make the load generator, not the host, the bottleneck. This client only
de-chunks the body and notes when the first byte and the first content delta arrived; the
lines are parsed and checked after the stream ends.
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


class Connection:
    """One keep-alive connection; reopened when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._started: asyncio.Event | None = None

    async def post(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        started: asyncio.Event | None = None,
    ) -> Response:
        """POST and read the whole response; `started` is set once the first body bytes arrived."""
        response = Response()
        self._started = started
        try:
            if self._writer is None or self._writer.is_closing():
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
            head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in {"Content-Type": "application/json", **(headers or {})}.items()]
            response.sent_at = time.perf_counter()
            self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            keep = await self._read(self._reader, response)  # type: ignore[arg-type]
            if not keep:
                self.close()
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            response.transport_error = f"{type(exc).__name__}: {exc}"
            self.close()
        response.ended_at = time.perf_counter()
        return response

    async def _read(self, reader: asyncio.StreamReader, response: Response) -> bool:
        status_line = await reader.readuntil(b"\r\n")
        response.headers_at = time.perf_counter()
        response.status = int(status_line.split(b" ", 2)[1])
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            response.headers[name.strip().lower()] = value.strip()
        body = response.body
        if response.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                        pass
                    break
                chunk = await reader.readexactly(size + 2)
                if self._started is not None:
                    self._started.set()
                if response.first_content_at is None and CONTENT_MARK in chunk:
                    response.first_content_at = time.perf_counter()
                body += chunk[:-2]
        elif "content-length" in response.headers:
            body += await reader.readexactly(int(response.headers["content-length"]))
        else:
            body += await reader.read()
            return False
        return response.headers.get("connection", "").lower() != "close"

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
