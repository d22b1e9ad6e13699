"""Server-sent events from the upstream, decoded into the relay's events as the bytes arrive.

Lines are split from the bytes and each `data:` payload goes to the upstream API's decoder (a
plain object: `feed(payload)` returns an event or None, `end()` the last one at the end of the
body). One async generator does it all: every layer of async generator costs a frame switch per
delta (py-spy, issue #14), and the SDK's `aiter_lines` adds a text decoder and a line decoder per
read. Both upstream APIs put each event's JSON on one `data:` line, so `event:` lines, comments and
blank separators are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from typing import Protocol

from chat.events import Event, Finish


class Decoder(Protocol):
    def feed(self, payload: bytes) -> Event | None:
        """The event in one `data:` payload, if any; a `Finish` ends the answer."""
        ...

    def end(self) -> Event:
        """The body ended without a `Finish` in it: the last event, or raise."""
        ...


async def events(chunks: AsyncIterable[bytes], decoder: Decoder) -> AsyncGenerator[Event]:
    """The decoded events in stream order, through the first `Finish` (CRLF line ends accepted)."""
    feed = decoder.feed
    pending = b""
    async for data in chunks:
        lines = (pending + data).split(b"\n")
        pending = lines.pop()  # an incomplete last line waits for the next read
        for line in lines:
            if line.startswith(b"data:") and (event := feed(line[5:].strip())) is not None:
                yield event
                if type(event) is Finish:
                    return
    if pending.startswith(b"data:") and (event := feed(pending[5:].strip())) is not None:
        yield event  # a last line without its newline still counts
        if type(event) is Finish:
            return
    yield decoder.end()
