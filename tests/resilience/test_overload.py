"""A host capped at 2 streams (CHAT_MAX_CONCURRENT_STREAMS=2), asked for 4 at once.

The two in flight must complete untouched; the other two must get 503 with Retry-After at
once, never reaching the model; once the two finish, a new stream is served again.
(`python -m tests.load` runs the same check with a cap of 20 and 40 extra streams.)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Host, Simulator, host_env, joined_content, ndjson_events, start_host, stop

REPLY = " ".join(f"steady{i}" for i in range(40))


@pytest.fixture(scope="module")
def capped_host(simulator: Simulator) -> Iterator[Host]:
    started = start_host(host_env(simulator, CHAT_MAX_CONCURRENT_STREAMS="2"))
    yield started
    stop(started.process)


async def _stream(client: httpx.AsyncClient, url: str, body: dict, opened: asyncio.Event | None = None) -> dict:
    sent = time.monotonic()
    async with client.stream("POST", url, json=body) as response:
        chunks = []
        async for chunk in response.aiter_bytes():
            if opened is not None:
                opened.set()
            chunks.append(chunk)
    text = b"".join(chunks)
    return {
        "status": response.status_code,
        "headers": response.headers,
        "body": text,
        "seconds": time.monotonic() - sent,
    }


async def test_excess_streams_get_503_at_once_and_in_flight_ones_complete(
    capped_host: Host, simulator: Simulator
) -> None:
    marker = simulator.rule(reply=REPLY, token_ms=25)  # about 2 s per stream
    url = f"{capped_host.url}/api/chat/stream"
    body = {"messages": [{"role": "user", "content": f"{marker} go"}]}
    async with httpx.AsyncClient(timeout=30) as client:
        opened = [asyncio.Event(), asyncio.Event()]
        in_flight = [asyncio.create_task(_stream(client, url, body, event)) for event in opened]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 10)

        excess = await asyncio.wait_for(asyncio.gather(*(_stream(client, url, body) for _ in range(2))), 10)
        assert not any(task.done() for task in in_flight), "the in-flight streams should still be streaming"
        finished = await asyncio.wait_for(asyncio.gather(*in_flight), 30)
        after = await asyncio.wait_for(_stream(client, url, body), 30)

    for rejected in excess:
        assert rejected["status"] == 503, rejected
        assert rejected["headers"]["retry-after"].isdigit()
        assert json.loads(rejected["body"])["error"]["code"] == "overloaded"
        assert rejected["seconds"] < 1.0, f"503 took {rejected['seconds']:.2f} s"
    for result in [*finished, after]:
        assert result["status"] == 200
        events = ndjson_events(result["body"].decode())
        assert joined_content(events) == REPLY
        assert events[-1]["context"]["finish_reason"] == "stop"
    # The rejected requests never reached the model: 2 in flight + 1 after.
    records = simulator.records(marker)
    assert len(records) == 3, records
    assert all(r["finished"] and not r["closed_early"] for r in records)
