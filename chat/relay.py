"""The relay: protocol-neutral events in, one protocol's bytes out, the moment each arrives.

Two tasks share one bounded queue. The *pump* reads the upstream and encodes lines; the
*body* iterator (driven by Starlette's StreamingResponse) sends them
(the progress phases are the relay's too, so every protocol marks them alike) and, when the upstream
is silent for `CHAT_HEARTBEAT_SECONDS`, sends a keep-alive instead. While the body waits on an
empty queue, the pump sends a line itself (`_Lane`), so a delta goes out without waking a second
task (a seventh of the relay's CPU per delta, issue #14); a line that finds the body busy or a
line already waiting is queued, so lines keep their order. The split exists because:
- a timeout around an upstream read would cancel the read and break the connection, while
  a timeout around `queue.get()` is harmless;
- when the client goes away, uvicorn makes Starlette cancel the body iterator inside an anyio
  cancel scope, where any further `await` is cancelled again. The pump is a plain task outside
  that scope, so cancelling it lets it close the upstream response properly, which is what
  stops the model generating (and billing) tokens nobody will read;
- the queue is bounded, and the pump's own send waits while the client's socket is full, so a
  slow client stops the pump reading, and back-pressure reaches the upstream instead of memory growing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable

from starlette.types import Send

from chat import errors
from chat.conversation import Conversation
from chat.errors import ChatError
from chat.events import ANSWERING, THINKING, Answer, Finish, Progress, Reasoning, Text
from chat.protocols import StreamEncoder
from chat.resume.recorder import Recorder
from chat.settings import Settings
from chat.telemetry import RequestRecord
from chat.upstream import Reply, Upstream, mid_stream_error

log = logging.getLogger(__name__)

QUEUE_LINES = 64
Lines = asyncio.Queue[bytes | None]  # encoded lines, then None: the end


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
    conversation: Conversation,
    upstream: Upstream,
    settings: Settings,
    encoder: StreamEncoder,
    record: RequestRecord,
    resume: Recorder | None = None,
) -> RelayLines:
    """Send the request upstream; once it is accepted, start the relay and return its lines.

    A failure before then raises `ChatError`, so the client gets a real HTTP status; after it,
    failures become the stream's last line. `resume` (None unless CHAT_RESUME is on) is the
    stream's recorder (chat/resume): `encoder` is already its recording encoder.
    """
    capacity.acquire(settings.max_concurrent_streams)
    try:
        reply = await upstream.open(conversation)
    except BaseException as exc:
        capacity.release()
        if isinstance(exc, asyncio.CancelledError):
            record.cancelled = True
            record.emit()
        raise
    queue: Lines = asyncio.Queue(QUEUE_LINES)
    queue.put_nowait(encoder.start())  # before the pump can queue anything: the first line
    lane = _Lane(queue, encoder.keep_alive, settings.heartbeat_seconds)
    pump = asyncio.create_task(_pump(reply, encoder, record, queue, lane))
    _pumps.add(pump)
    # Here, not in the pump: a pump cancelled before its first step runs none of its own code.
    pump.add_done_callback(lambda _: (_pumps.discard(pump), capacity.release(), reply.close()))
    if resume is not None:
        resume.bind(pump, queue)
    body = _body(queue, pump, lane, record, resume)
    return RelayLines(await body.__anext__(), body, lane)  # the start line is waiting: no suspension


async def _pump(reply: Reply, encoder: StreamEncoder, record: RequestRecord, queue: Lines, lane: _Lane) -> None:
    try:
        async with reply as events:
            thinking = answering = False
            put, put_nowait, full, empty = queue.put, queue.put_nowait, queue.full, queue.empty
            async for event in events:
                kind = type(event)
                # A phase line goes out with the line after it; each is encoded in stream order.
                if kind is Text:
                    if answering:  # the phase changes once; the text itself is the hot path
                        line = encoder.text(event.text)  # type: ignore[union-attr]
                    else:
                        answering = True
                        record.first_token()
                        line = encoder.progress(ANSWERING.phase) + encoder.text(event.text)  # type: ignore[union-attr]
                elif kind is Reasoning or kind is Progress:
                    line = b""
                    if not thinking and not answering:
                        thinking = True
                        line = encoder.progress(THINKING.phase)
                    if kind is Reasoning:
                        line += encoder.reasoning(event.text)  # type: ignore[union-attr]
                else:
                    record.finish(event)  # type: ignore[arg-type]
                    line = encoder.finish(event)  # type: ignore[arg-type]
                if line:
                    if lane.open and empty():
                        lane.last = lane.clock()
                        await lane.send({"type": "http.response.body", "body": line, "more_body": True})
                    elif full():
                        await put(line)
                    else:
                        put_nowait(line)
    except asyncio.CancelledError:
        record.cancelled = True
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an error the client can read
        error = mid_stream_error(exc)
        record.error_code = error.code
        await queue.put(encoder.error(error))
    await queue.put(None)


async def gather(conversation: Conversation, upstream: Upstream, settings: Settings, record: RequestRecord) -> Answer:
    """The whole answer, for the non-streaming endpoints: the same upstream stream, gathered.

    Reading the stream rather than a non-streamed completion keeps one decoder per upstream API,
    and lets a caller who leaves stop generation the same way (the caller cancels this).
    """
    capacity.acquire(settings.max_concurrent_streams)
    try:
        reply = await upstream.open(conversation)
        async with reply as events:
            text: list[str] = []
            reasoning: list[str] = []
            async for event in events:
                if type(event) is Text:
                    record.first_token()
                    text.append(event.text)
                elif type(event) is Reasoning:
                    reasoning.append(event.text)
                elif type(event) is Finish:
                    record.finish(event)
                    return Answer("".join(text), "".join(reasoning), event)
    except asyncio.CancelledError:
        record.cancelled = True
        raise
    except ChatError:
        raise  # the upstream's status, or the decoder's own error
    except Exception as exc:
        raise mid_stream_error(exc) from exc
    finally:
        capacity.release()
    raise errors.upstream_incomplete()  # decoders end with a Finish or raise; this is the guard


async def _body(
    queue: Lines,
    pump: asyncio.Task[None],
    lane: _Lane,
    record: RequestRecord,
    resume: Recorder | None = None,
) -> AsyncIterator[bytes]:
    get, get_nowait, empty = queue.get, queue.get_nowait, queue.empty
    left = False  # the client went away mid-answer (not: the answer ended, or was cancelled by request)
    try:
        while True:
            if empty():
                lane.open = lane.send is not None  # the pump may send while this waits
                item = await get()
                lane.open = False
            else:
                item = get_nowait()
            if item is None:
                return
            # Lines already waiting (an upstream burst, or a client slower than the model) go out
            # as one write: one ASGI send and one syscall instead of one per line. No line waits.
            while not empty():
                following = get_nowait()
                if following is None:
                    yield item
                    return
                item += following
            yield item
            lane.last = lane.clock()
    except (asyncio.CancelledError, GeneratorExit):
        left = record.cancelled = not pump.done()
        raise
    finally:
        lane.open = False  # no line goes to a client that has gone
        lane.cancel()
        # With resume on, a client that leaves mid-answer detaches: the recorder keeps the answer
        # going for a resumer and emits the record when it ends.
        if not (left and resume is not None and resume.detach(pump, record)):
            pump.cancel()  # no await: see the module docstring
            if left:
                log.info("client went away; upstream closed (request %s)", record.request_id)
            record.emit()


class _Lane:
    """How a line reaches the client: the ASGI `send` the pump may use, and the keep-alive timer.

    `open` is true only while the body waits on an empty queue (so no line is waiting or being
    sent by it). The keep-alive is queued when nothing was sent for `seconds` and nothing waits
    to be sent, by one timer per stream, re-armed when it fires: a timeout around each
    `queue.get()` would make and cancel a timer per delta, about 5 % of a worker's CPU at 200
    streams (py-spy, issue #14). It goes through the queue like any line, so it never splits one.
    """

    def __init__(self, queue: Lines, keep_alive: bytes, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.send: Send | None = None  # set when the response starts (`RelayLines.attach`)
        self.open = False
        self.clock = loop.time
        self.last = loop.time()  # when a line last went out
        self._loop = loop
        self._queue = queue
        self._keep_alive = keep_alive
        self._seconds = seconds
        self._timer = loop.call_at(self.last + seconds, self._fire)

    def _fire(self) -> None:
        due = self.last + self._seconds
        now = self._loop.time()
        if now >= due:
            if self._queue.empty():  # else lines are waiting for a slow client: they are the news
                self._queue.put_nowait(self._keep_alive)
            due = now + self._seconds
        self._timer = self._loop.call_at(due, self._fire)

    def cancel(self) -> None:
        self._timer.cancel()


class RelayLines:
    """The body iterator with its first line already read, so no frame is added per line."""

    def __init__(self, first: bytes, rest: AsyncIterator[bytes], lane: _Lane) -> None:
        self._first: bytes | None = first
        self._rest = rest
        self._lane = lane

    def attach(self, send: Send) -> None:
        """The response's ASGI `send`, once it has started: the pump may send lines with it."""
        self._lane.send = send

    def __aiter__(self) -> RelayLines:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        if self._first is None:
            return self._rest.__anext__()
        first, self._first = self._first, None
        return _ready(first)


async def _ready(value: bytes) -> bytes:
    return value
