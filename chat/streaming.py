"""The relay: upstream chunks in, protocol lines out, the moment each arrives.

Two tasks share one bounded queue. The *pump* reads the upstream and encodes lines; the
*body* iterator (driven by Starlette's StreamingResponse) sends them and, when the upstream
is silent for `CHAT_HEARTBEAT_SECONDS`, sends a keep-alive instead. The split exists because:
- a timeout around an upstream read would cancel the read and break the connection, while
  a timeout around `queue.get()` is harmless;
- when the client goes away, uvicorn makes Starlette cancel the body iterator inside an anyio
  cancel scope, where any further `await` is cancelled again. The pump is a plain task outside
  that scope, so cancelling it lets it close the upstream response properly, which is what
  stops the model generating (and billing) tokens nobody will read;
- the queue is bounded, so a slow client stops the pump reading, and back-pressure reaches
  the upstream instead of memory growing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable

from chat import errors
from chat.errors import ChatError
from chat.protocol import ChatRequest, LineEncoder
from chat.settings import Settings
from chat.telemetry import RequestRecord
from chat.upstream import Upstream, Usage, to_chat_error

log = logging.getLogger(__name__)

QUEUE_LINES = 64
PROGRESS = "Generating answer…"


class Capacity:
    """Caps the upstream calls one worker holds open; beyond it, new requests get 503 at once."""

    def __init__(self) -> None:
        self.active = 0

    def acquire(self, limit: int) -> None:
        if self.active >= limit:
            raise errors.overloaded()
        self.active += 1

    def release(self) -> None:
        self.active -= 1


capacity = Capacity()

_pumps: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones


async def open_relay(
    chat_request: ChatRequest,
    upstream: Upstream,
    settings: Settings,
    encoder: LineEncoder,
    record: RequestRecord,
) -> AsyncIterator[bytes]:
    """Start the relay; return once the upstream accepted the request (the first line is ready).

    A failure before then raises `ChatError`, so the client gets a real HTTP status; after it,
    failures become the stream's last line.
    """
    capacity.acquire(settings.max_concurrent_streams)
    queue: asyncio.Queue[bytes | ChatError | None] = asyncio.Queue(QUEUE_LINES)
    pump = asyncio.create_task(_pump(chat_request, upstream, settings, encoder, record, queue))
    _pumps.add(pump)
    pump.add_done_callback(_pumps.discard)
    body = _body(queue, pump, encoder, settings.heartbeat_seconds, record)
    try:
        first = await body.__anext__()
    except BaseException:
        await body.aclose()
        raise
    return _Primed(first, body)


async def _pump(
    chat_request: ChatRequest,
    upstream: Upstream,
    settings: Settings,
    encoder: LineEncoder,
    record: RequestRecord,
    queue: asyncio.Queue[bytes | ChatError | None],
) -> None:
    started = False
    try:
        async with upstream.stream(chat_request.upstream_messages(settings)) as chunks:
            started = True
            await queue.put(
                encoder.event(
                    {
                        "delta": {"role": "assistant"},
                        "context": {"progress": PROGRESS, "requestId": record.request_id},
                        "sessionState": chat_request.session_state,
                    }
                )
            )
            finish_reason: str | None = None
            usage: Usage | None = None
            put, put_nowait, full = queue.put, queue.put_nowait, queue.full
            async for chunk in chunks:
                if chunk.error is not None:
                    raise errors.upstream_error("The model service failed while answering.")
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices[:1]:
                    delta = choice.delta
                    if delta is not None and delta.content:
                        if record.ttft_ms is None:
                            record.first_token()
                        line = encoder.content(delta.content)
                        if full():
                            await put(line)
                        else:
                            put_nowait(line)
                    if choice.finish_reason is not None:
                        finish_reason = choice.finish_reason
            context = record.finish(finish_reason, usage)
            if finish_reason == "content_filter":
                raise errors.answer_filtered()
            if finish_reason is None:
                raise errors.upstream_incomplete()
            final = {"delta": {"role": "assistant"}, "context": context, "sessionState": chat_request.session_state}
            await queue.put(encoder.event(final))
    except asyncio.CancelledError:
        record.cancelled = True
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an error the client can read
        error = to_chat_error(exc) if not started or isinstance(exc, ChatError) else errors.upstream_interrupted()
        record.error_code = error.code
        # Before the first line the endpoint turns the error into a status; after it, a last line.
        await queue.put(encoder.error(error) if started else error)
    finally:
        capacity.release()
    await queue.put(None)


async def _body(
    queue: asyncio.Queue[bytes | ChatError | None],
    pump: asyncio.Task[None],
    encoder: LineEncoder,
    heartbeat_seconds: float,
    record: RequestRecord,
) -> AsyncIterator[bytes]:
    get, get_nowait, empty = queue.get, queue.get_nowait, queue.empty
    sent = False
    try:
        while True:
            try:
                item = get_nowait()
            except asyncio.QueueEmpty:
                try:
                    # No keep-alive before the first line: until the upstream has accepted the
                    # request, the client should get its real status (a 429, a 502), not a 200.
                    async with asyncio.timeout(heartbeat_seconds if sent else None):
                        item = await get()
                except TimeoutError:
                    yield encoder.keep_alive
                    continue
            if item is None:
                return
            if isinstance(item, ChatError):
                raise item  # only ever the first item: the endpoint answers with its status
            sent = True
            # Lines already waiting (an upstream burst, or a client slower than the model) go out
            # as one write: one ASGI send and one syscall instead of one per line. No line waits.
            while not empty():
                following = get_nowait()
                if not isinstance(following, bytes):  # the end: errors after the first line arrive encoded
                    yield item
                    return
                item += following
            yield item
    except (asyncio.CancelledError, GeneratorExit):
        record.cancelled = not pump.done()
        raise
    finally:
        pump.cancel()  # no await: see the module docstring
        if record.cancelled:
            log.info("client went away; upstream closed (request %s)", record.request_id)
        record.emit()


class _Primed:
    """The body iterator with its first line already read, so no frame is added per line."""

    def __init__(self, first: bytes, rest: AsyncIterator[bytes]) -> None:
        self._first: bytes | None = first
        self._rest = rest

    def __aiter__(self) -> _Primed:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        if self._first is None:
            return self._rest.__anext__()
        first, self._first = self._first, None
        return _ready(first)


async def _ready(value: bytes) -> bytes:
    return value
