"""Server-sent events from the upstream, as the `data:` payloads the decoders read.

Lines are split from the bytes as they arrive and handed on as bytes: the SDK's `aiter_lines`
adds a text decoder and a line decoder (two more async generators and a UTF-8 decode) per
network read, a measurable share of the relay's CPU per delta. Both upstream APIs put each
event's JSON on one `data:` line, so `event:` lines, comments and blank separators are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable


async def data_payloads(chunks: AsyncIterable[bytes]) -> AsyncGenerator[bytes]:
    """Each `data:` field's value, whitespace-trimmed, in stream order (CRLF line ends accepted)."""
    pending = b""
    async for data in chunks:
        lines = (pending + data).split(b"\n")
        pending = lines.pop()  # an incomplete last line waits for the next read
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()
    if pending.startswith(b"data:"):  # a last line without its newline still counts
        yield pending[5:].strip()
