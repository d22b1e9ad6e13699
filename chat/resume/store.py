"""What a stream store keeps, and the one interface the in-process and Redis stores both offer.

A stream is a numbered log of encoded lines (ids 1, 2, ...) plus a little metadata, and an end
marker saying how it ended. Readers poll-with-wait (`read`), so a store may block on its own
engine (Redis `XREAD BLOCK`) or on an asyncio condition (in-process) without the caller knowing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

End = Literal["done", "cancelled", "gone"]
# done: the answer ended (its last line is in the log); cancelled: stopped on request or when nobody
# came back in the grace period (an error line says so); gone: the log stopped being kept (too large,
# or the store failed mid-stream), so a resumer cannot be given the whole answer.


class StoreUnavailable(Exception):
    """The store could not be reached or refused the write: streaming goes on without resume."""


@dataclass(frozen=True, slots=True)
class StreamMeta:
    """What a resume request needs before reading the log: who may read it and how to frame it."""

    secret_digest: str  # sha256 of the resume token, hex: the token itself is never stored
    media_type: str
    request_id: str
    chat_key: str = ""  # the AI SDK chat id this stream answers, when it has one


@dataclass(frozen=True, slots=True)
class Batch:
    """Lines read from a log: `(id, line)` in order, and how the stream ended once it has."""

    entries: list[tuple[int, bytes]]
    end: End | None = None


class Store(Protocol):
    name: str
    batch_seconds: float  # how long the writer gathers lines before one write (0: write at once)

    async def create(self, stream_id: str, meta: StreamMeta, ttl: float) -> None:
        """Register a stream (and its chat, when it has one); raise `StoreUnavailable` if that is impossible."""

    async def append(self, stream_id: str, entries: list[tuple[int, bytes]], end: End | None, ttl: float) -> None:
        """Add lines (and the end marker, last) and push the stream's expiry `ttl` seconds out."""

    async def meta(self, stream_id: str) -> StreamMeta | None: ...

    async def stream_of_chat(self, chat_key: str) -> str | None:
        """The newest stream of an AI SDK chat, if it is still kept."""

    async def read(self, stream_id: str, after: int, wait: float) -> Batch:
        """Lines with ids above `after`; when there are none yet, wait up to `wait` seconds for some."""

    async def lease(self, stream_id: str, seconds: float) -> None:
        """Say that a resumer is reading: the generator keeps going past its grace period while leased."""

    async def leased(self, stream_id: str) -> bool: ...

    async def request_cancel(self, stream_id: str) -> None:
        """Ask whichever instance generates the stream to stop it."""

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        """Call `callback(stream_id)` when any instance asks for a stream to stop."""

    async def close(self) -> None: ...
