"""The proxy hop's activity timeout, between real HTTP servers on loopback.

The host gives up after 240 s without a byte either way (YARP's ActivityTimeout); here the same
Forwarder runs with half a second, in front of a worker-side server that goes quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from dev.functions_host.forwarder import Exchange, Forwarder, Outcome, StreamAborted

IDLE = 0.5


async def worker(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """`/quiet-head`: no answer at all; `/quiet-body`: one line, then nothing; `/trickle`: a byte every IDLE/3."""
    if scope["path"] == "/quiet-head":
        await asyncio.sleep(60)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if scope["path"] == "/trickle":
        for _ in range(9):  # three times the idle limit in all
            await send({"type": "http.response.body", "body": b".", "more_body": True})
            await asyncio.sleep(IDLE / 3)
        await send({"type": "http.response.body", "body": b"done\n"})
        return
    await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
    await asyncio.sleep(60)


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections wait in the backlog until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = server.force_exit = True
        await task


@pytest.fixture
async def hop() -> AsyncIterator[tuple[str, list[Exchange]]]:
    exchanges: list[Exchange] = []
    async with serving(worker) as worker_url, Forwarder(worker_url, activity_timeout=IDLE) as forwarder:

        async def front(scope: dict[str, Any], receive: Any, send: Any) -> None:
            exchange = Exchange()
            exchanges.append(exchange)
            await forwarder.forward(scope, receive, send, "invocation-under-test", exchange)
            if exchange.response_started and exchange.outcome is Outcome.TIMED_OUT:
                raise StreamAborted("idle")  # as the host does: the client's connection is dropped

        async with serving(front) as front_url:
            yield front_url, exchanges


async def test_a_worker_silent_before_answering_is_a_504(hop):
    url, exchanges = hop
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{url}/quiet-head")
    assert (response.status_code, response.content) == (504, b"")
    assert exchanges[-1].outcome is Outcome.TIMED_OUT


async def test_a_stream_gone_quiet_is_cut_not_ended(hop):
    url, exchanges = hop
    received: list[bytes] = []

    async def read_all(response: httpx.Response) -> None:
        async for chunk in response.aiter_raw():
            received.append(chunk)

    async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", f"{url}/quiet-body") as response:
        with pytest.raises(httpx.RemoteProtocolError):
            await read_all(response)
    assert b"".join(received) == b"first\n"
    assert exchanges[-1].outcome is Outcome.TIMED_OUT


async def test_bytes_that_keep_coming_keep_the_hop_open(hop):
    url, exchanges = hop
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{url}/trickle")
    assert response.text == "." * 9 + "done\n"
    assert exchanges[-1].outcome is Outcome.COMPLETED
