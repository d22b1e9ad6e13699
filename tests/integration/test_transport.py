"""The upstream transport's read timeout, over real HTTP from a scripted loopback server.

It bounds each wait for the upstream, never the whole answer nor the time the relay holds a
chunk: a slow client pushing back must not turn into an `upstream_timeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx2
import pytest
from yarl import URL

from chat.upstream.transport import UpstreamHTTP

TIMEOUT = 0.3
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@asynccontextmanager
async def scripted(script: Callable[[asyncio.StreamWriter], object]) -> AsyncIterator[URL]:
    """A server that reads one request head, then runs `script` on the connection."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await script(writer)  # type: ignore[misc]
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield URL(f"http://127.0.0.1:{port}/v1/responses")
    finally:
        server.close()


async def read_into(received: list[bytes], chunks: AsyncIterator[bytes]) -> None:
    async for data in chunks:
        received.append(data)


def transport() -> UpstreamHTTP:
    return UpstreamHTTP(max_connections=4, connect_seconds=5, read_seconds=TIMEOUT)


async def test_a_chunk_held_longer_than_the_timeout_is_not_a_timeout() -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + chunk(b"data: one\n\n"))
        await writer.drain()
        await asyncio.sleep(TIMEOUT / 3)  # the rest comes while the consumer holds "one"
        writer.write(chunk(b"data: two\n\n") + chunk(b"data: three\n\n") + b"0\r\n\r\n")
        await writer.drain()

    http = transport()
    async with scripted(script) as url:
        response = await http.post(url, {}, b"{}")
        received = []
        async for data in http.chunks(response):
            received.append(data)
            if len(received) == 1:
                await asyncio.sleep(3 * TIMEOUT)  # the relay holding a chunk: a slow client pushing back
        http.close(response)
    await http.aclose()
    assert b"".join(received).count(b"data: ") == 3


async def test_an_upstream_silent_past_the_timeout_mid_body_is_a_read_timeout() -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD + chunk(b"data: one\n\n"))
        await writer.drain()
        await asyncio.sleep(10 * TIMEOUT)

    http = transport()
    async with scripted(script) as url:
        response = await http.post(url, {}, b"{}")
        received: list[bytes] = []
        with pytest.raises(httpx2.ReadTimeout):
            await read_into(received, http.chunks(response))
        http.close(response)
    await http.aclose()
    assert received == [b"data: one\n\n"]


async def test_an_upstream_silent_before_its_head_is_a_read_timeout() -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10 * TIMEOUT)

    http = transport()
    async with scripted(script) as url:
        with pytest.raises(httpx2.ReadTimeout):
            await http.post(url, {}, b"{}")
    await http.aclose()
