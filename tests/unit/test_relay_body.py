"""The relay's body loop, in process: what it sends for what the pump queued.

The first item queued is always the start line: `open_relay` queues it once the upstream has
accepted the request (an upstream refusal is raised before there is a body: see the integration tests).
"""

import asyncio

from chat import errors
from chat.conversation import Conversation, Message
from chat.protocols.ai_chat import ChatRequest, LineEncoder
from chat.relay import _body, _Lane
from chat.telemetry import RequestRecord


def ndjson() -> LineEncoder:
    request = ChatRequest(Conversation((Message("user", "hi"),)))
    return LineEncoder(request, RequestRecord(streaming=True))


async def drain(now, later=(None,), heartbeat=5.0, delay=0.0):
    """Run the body over `now` queued at once and `later` queued after `delay` seconds."""
    queue = asyncio.Queue()
    for item in now:
        queue.put_nowait(item)

    async def finish():
        await asyncio.sleep(delay)
        for item in later:
            await queue.put(item)

    pump = asyncio.create_task(finish())
    body = _body(queue, pump, _Lane(queue, ndjson().keep_alive, heartbeat), RequestRecord(streaming=True))
    return [chunk async for chunk in body]


async def test_lines_already_waiting_go_out_in_one_write_in_order():
    assert await drain([b"1\n", b"2\n", b"3\n"]) == [b"1\n2\n3\n"]


async def test_an_error_after_the_first_line_is_the_last_line():
    line = ndjson().error(errors.upstream_interrupted())
    assert await drain([b"1\n", line]) == [b"1\n" + line]


async def test_silence_after_the_first_line_sends_keep_alives():
    chunks = await drain([b"1\n"], heartbeat=0.05, delay=0.3)
    assert chunks[0] == b"1\n"
    assert set(chunks[1:]) == {b"\n"} and len(chunks) >= 3
