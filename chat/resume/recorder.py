"""One resumable stream on the instance generating it: numbered lines, logged as they are produced.

`Recorder.encoder` wraps the protocol's encoder, so the relay's hot loop is unchanged: every line
gets its id (an SSE `id:` field, an NDJSON `"index"` key), goes to the live client at once, and is
queued for the store. A writer task drains that queue in batches, so store latency never delays
a live line; if the store falls behind by more than a stream's byte budget, or fails, the log ends
as `gone` and the live stream goes on without resume (logged).

The relay calls `bind` when the pump starts and `detach` when the client leaves: the answer then
goes on for `CHAT_RESUME_GRACE_SECONDS`, and on after that for as long as a resumer holds a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from chat.errors import ChatError
from chat.events import Finish, Phase
from chat.protocols import StreamEncoder
from chat.resume.store import End, Store
from chat.settings import Settings
from chat.telemetry import RequestRecord

log = logging.getLogger(__name__)

_generating: dict[str, Recorder] = {}  # this instance's resumable streams, for cancel requests


def cancelled() -> ChatError:
    return ChatError(499, "cancelled", "The answer was stopped before it ended.")


def framer(media_type: str) -> Callable[[bytes, int], list[bytes]]:
    return _sse_events if media_type == "text/event-stream" else _ndjson_line


def _sse_events(chunk: bytes, first: int) -> list[bytes]:
    """Each SSE event of the chunk with its own id, so a cut between two of them loses or repeats none."""
    if chunk.find(b"\n\n") == len(chunk) - 2:  # one event: the common case
        return [b"id: %d\n%b" % (first, chunk)]
    events = chunk.split(b"\n\n")[:-1]
    return [b"id: %d\n%b\n\n" % (first + offset, event) for offset, event in enumerate(events)]


def _ndjson_line(line: bytes, number: int) -> list[bytes]:
    return [b'{"index":%d,%b' % (number, line[1:])]


class Recorder:
    """Numbers and logs one stream's lines, and keeps its answer going when the client drops."""

    def __init__(self, store: Store, stream_id: str, inner: StreamEncoder, settings: Settings) -> None:
        self.stream_id = stream_id
        self.encoder = _RecordingEncoder(inner, self)
        self._store = store
        self._inner = inner
        self._frame = framer(inner.media_type)
        self._ttl = settings.resume_ttl_seconds
        self._grace = settings.resume_grace_seconds
        self._budget = settings.resume_max_stream_bytes
        self._next = 1
        self._logged = 0
        self._pending: list[tuple[int, bytes]] = []
        self._end: End | None = None
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None  # started by the first line: a stream refused before it has none
        self._pump: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._detached = False
        self._record: RequestRecord | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._drainer: asyncio.Task[None] | None = None
        self._on_generated: Callable[[], None] | None = None

    def add(self, line: bytes, *, last: bool = False) -> bytes:
        if not line:
            return line
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        events = self._frame(line, self._next)
        if self._end is None:
            self._logged += len(line)
            if self._logged > self._budget:
                self._give_up(f"it passed CHAT_RESUME_MAX_STREAM_BYTES={self._budget}")
            else:
                self._pending.extend(enumerate(events, self._next))
                if last:
                    self._end = "done"
                self._wake.set()
        self._next += len(events)
        return events[0] if len(events) == 1 else b"".join(events)

    def bind(self, pump: asyncio.Task[None], queue: asyncio.Queue[bytes | None]) -> None:
        self._pump, self._queue = pump, queue
        _generating[self.stream_id] = self
        pump.add_done_callback(self._pump_ended)

    def detach(self, pump: asyncio.Task[None], record: RequestRecord) -> bool:
        """The client left mid-answer: keep generating for a resumer instead of closing the upstream.

        False when the log is no longer kept (nobody could resume it): the caller closes the upstream.
        """
        if self._end is not None or self._queue is None:
            return False
        self._detached, self._record = True, record
        record.cancelled = False  # set again by the pump if the grace period ends it
        log.info(
            "client went away; answer goes on for a resumer for %gs (request %s, stream %s)",
            self._grace,
            record.request_id,
            self.stream_id,
        )
        self._drainer = self._spawn(self._drain())
        self._spawn(self._keep_while_leased(pump))
        return True

    def when_generated(self, settle: Callable[[], None]) -> None:
        """Run `settle` once the answer is over: now, or when a detached answer ends.

        So a detached answer keeps its client's slot, and is charged what it cost, for as long as it runs.
        """
        if self._detached and self._pump is not None and not self._pump.done():
            self._on_generated = settle
        else:
            settle()

    def cancel(self) -> None:
        if self._pump is not None and not self._pump.done():
            log.info("stream %s cancelled by its client: upstream closed", self.stream_id)
            self._pump.cancel()

    def _pump_ended(self, pump: asyncio.Task[None]) -> None:
        _generating.pop(self.stream_id, None)
        if pump.cancelled() and self._end is None:
            line = self.add(self._inner.error(cancelled()))
            self._end = self._end or "cancelled"
            self._wake.set()
            if not self._detached and self._queue is not None:
                self._spawn(self._tell_live_client(line))
        if self._end is None:  # a pump that ended without a last line (cannot happen: it encodes errors)
            self._end = "gone"
            self._wake.set()
        if self._detached and self._record is not None:
            if self._drainer is not None:
                self._drainer.cancel()  # a cancelled pump puts no end on the queue
            self._record.emit()
        if self._on_generated is not None:
            self._on_generated()

    async def _tell_live_client(self, line: bytes) -> None:
        assert self._queue is not None
        await self._queue.put(line)
        await self._queue.put(None)

    async def _drain(self) -> None:
        """Nobody reads the queue any more: empty it, so the pump is never held by back-pressure."""
        assert self._queue is not None
        while await self._queue.get() is not None:
            pass

    async def _keep_while_leased(self, pump: asyncio.Task[None]) -> None:
        while True:
            await asyncio.wait((pump,), timeout=self._grace)
            if pump.done():
                return
            try:
                leased = await self._store.leased(self.stream_id)
            except Exception:  # noqa: BLE001 - no store, no resumer: stop paying for the answer
                leased = False
            if not leased:
                log.info("nobody resumed stream %s within %gs: upstream closed", self.stream_id, self._grace)
                pump.cancel()
                return

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            if self._store.batch_seconds and self._end is None:
                await asyncio.sleep(self._store.batch_seconds)  # fewer, larger writes; live lines never wait
            self._wake.clear()
            batch, self._pending = self._pending, []
            end = self._end
            try:
                await self._store.append(self.stream_id, batch, end, self._ttl)
            except Exception as exc:  # noqa: BLE001 - the live stream must not depend on the store
                log.warning("resume store write failed for stream %s: %r; no resume for it", self.stream_id, exc)
                self._end = "gone"
                with contextlib.suppress(Exception):  # tell resumers, if the store still answers
                    await self._store.append(self.stream_id, [], "gone", self._ttl)
                return
            if end is not None:
                return

    def _give_up(self, why: str) -> None:
        log.warning("stream %s is no longer logged for resume: %s", self.stream_id, why)
        self._pending.clear()
        self._end = "gone"
        self._wake.set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def cancel_here(stream_id: str) -> None:
    """Stop a stream this instance generates (a store's cancel callback)."""
    if (recorder := _generating.get(stream_id)) is not None:
        recorder.cancel()


class _RecordingEncoder:
    """The protocol's encoder, each line numbered and logged; keep-alives are neither."""

    def __init__(self, inner: StreamEncoder, recorder: Recorder) -> None:
        self._inner = inner
        self._add = recorder.add
        self.media_type: str = inner.media_type
        self.headers: Mapping[str, str] = inner.headers
        self.keep_alive: bytes = inner.keep_alive

    def start(self) -> bytes:
        return self._add(self._inner.start())

    def progress(self, phase: Phase) -> bytes:
        return self._add(self._inner.progress(phase))

    def reasoning(self, text: str) -> bytes:
        return self._add(self._inner.reasoning(text))

    def text(self, text: str) -> bytes:
        return self._add(self._inner.text(text))

    def finish(self, finish: Finish) -> bytes:
        return self._add(self._inner.finish(finish), last=True)

    def error(self, error: ChatError) -> bytes:
        return self._add(self._inner.error(error), last=True)
