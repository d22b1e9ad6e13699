"""The in-process stream store: for `make run` and single-instance apps, where every resume lands here.

Memory is bounded twice: each stream by `CHAT_RESUME_MAX_STREAM_BYTES` (the caller stops logging a
stream past it) and all streams together by `CHAT_RESUME_MAX_MEMORY_BYTES`: a new stream first
evicts expired, then finished streams, oldest first, and is refused (streamed without resume) when
live streams alone fill the budget; an append past the budget ends that stream's log as `gone`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chat.resume.store import Batch, End, StoreUnavailable, StreamMeta


@dataclass
class _Log:
    meta: StreamMeta
    expires: float
    lines: list[bytes] = field(default_factory=list)  # id n is lines[n - 1]
    size: int = 0
    end: End | None = None
    lease_until: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryStore:
    name = "memory"
    batch_seconds = 0.0  # an append is a list append: nothing to gain by waiting

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._logs: dict[str, _Log] = {}  # insertion order: oldest first
        self._chats: dict[str, str] = {}
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock
        self._cancel_callbacks: list[Callable[[str], None]] = []

    @property
    def bytes(self) -> int:
        return self._bytes

    async def create(self, stream_id: str, meta: StreamMeta, ttl: float) -> None:
        self._sweep()
        if self._bytes >= self._max_bytes:
            for victim in [key for key, log in self._logs.items() if log.end is not None]:
                self._drop(victim)
                if self._bytes < self._max_bytes:
                    break
            else:
                raise StoreUnavailable("the in-process resume store is full (CHAT_RESUME_MAX_MEMORY_BYTES)")
        self._logs[stream_id] = _Log(meta, self._clock() + ttl)
        if meta.chat_key:
            self._chats[meta.chat_key] = stream_id

    async def append(self, stream_id: str, entries: list[tuple[int, bytes]], end: End | None, ttl: float) -> None:
        log = self._logs.get(stream_id)
        if log is None or log.end is not None:
            return
        for number, line in entries:
            if number != len(log.lines) + 1:
                raise StoreUnavailable(f"line {number} out of order in stream {stream_id}")
            if self._bytes + len(line) > self._max_bytes:
                end = "gone"
                break
            log.lines.append(line)
            log.size += len(line)
            self._bytes += len(line)
        log.end = end
        log.expires = self._clock() + ttl
        log.changed.set()
        log.changed = asyncio.Event()

    async def meta(self, stream_id: str) -> StreamMeta | None:
        log = self._live(stream_id)
        return None if log is None else log.meta

    async def stream_of_chat(self, chat_key: str) -> str | None:
        stream_id = self._chats.get(chat_key)
        return stream_id if stream_id is not None and self._live(stream_id) is not None else None

    async def read(self, stream_id: str, after: int, wait: float) -> Batch:
        log = self._live(stream_id)
        if log is None:
            return Batch([], "gone")
        if len(log.lines) <= after and log.end is None:
            changed = log.changed
            try:
                async with asyncio.timeout(wait):
                    await changed.wait()
            except TimeoutError:
                return Batch([])
        entries = [(number, log.lines[number - 1]) for number in range(after + 1, len(log.lines) + 1)]
        return Batch(entries, log.end)

    async def lease(self, stream_id: str, seconds: float) -> None:
        if (log := self._live(stream_id)) is not None:
            log.lease_until = self._clock() + seconds

    async def leased(self, stream_id: str) -> bool:
        log = self._live(stream_id)
        return log is not None and log.lease_until > self._clock()

    async def request_cancel(self, stream_id: str) -> None:
        for callback in self._cancel_callbacks:
            callback(stream_id)

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        self._cancel_callbacks.append(callback)

    async def close(self) -> None:
        self._logs.clear()
        self._chats.clear()
        self._bytes = 0

    def _live(self, stream_id: str) -> _Log | None:
        log = self._logs.get(stream_id)
        if log is not None and log.expires <= self._clock():
            self._drop(stream_id)
            return None
        return log

    def _sweep(self) -> None:
        now = self._clock()
        for stream_id in [key for key, log in self._logs.items() if log.expires <= now]:
            self._drop(stream_id)

    def _drop(self, stream_id: str) -> None:
        log = self._logs.pop(stream_id)
        self._bytes -= log.size
        if log.meta.chat_key and self._chats.get(log.meta.chat_key) == stream_id:
            del self._chats[log.meta.chat_key]
        log.end = log.end or "gone"
        log.changed.set()
