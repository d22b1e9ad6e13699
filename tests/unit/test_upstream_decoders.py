"""Both upstream decoders over stream bodies the project wrote, shaped like recorded Azure/OpenAI
streams: whole, and re-split at every byte offset (inside multi-byte characters too)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chat.errors import ChatError
from chat.events import THINKING, Finish, Reasoning, Text, Usage
from chat.upstream import chat_completions, responses, sse

STREAMS = Path(__file__).parent / "streams"


async def _parts(parts: list[bytes]):
    for part in parts:
        yield part


def decode(api, data: bytes, cut: int | None = None):
    """(text, reasoning, finish or error code, saw the thinking mark) for one body."""
    parts = [data] if cut is None else [data[:cut], data[cut:]]

    async def run():
        text, reasoning, thinking = [], [], False
        try:
            async for event in sse.events(_parts(parts), api.Decoder()):
                if type(event) is Text:
                    text.append(event.text)
                elif type(event) is Reasoning:
                    reasoning.append(event.text)
                elif type(event) is Finish:
                    return "".join(text), "".join(reasoning), event, thinking
                elif event == THINKING:
                    thinking = True
        except ChatError as error:
            return "".join(text), "".join(reasoning), error.code, thinking
        raise AssertionError("the decoder ended with neither a Finish nor an error")

    return asyncio.run(run())


CASES = [
    (
        chat_completions,
        "azure-v1-chat-usage.sse",
        ("Café naïve e\u0301 日本語 🚀\n\nDone", "", Finish("stop", Usage(21, 140, 128)), False),
    ),
    (
        chat_completions,
        "local-reasoning-content.sse",
        ("Hello there!", "The user greets 👋; reply.", Finish("stop", Usage(9, 30, 22)), False),
    ),
    (chat_completions, "azure-chat-content-filter.sse", ("Partial", "", "content_filter", False)),
    (
        responses,
        "responses-reasoning-summary.sse",
        (
            "Héllo wörld 🚀\n- item",
            "**Planning**\n\nWeighing 日本 ✨\n\n**Checking**\n\nDone.",
            Finish("stop", Usage(31, 120, 96)),
            True,
        ),
    ),
    (responses, "responses-incomplete-length.sse", ("Cut here", "", Finish("length", Usage(5, 16, 0)), False)),
    (responses, "responses-failed.sse", ("Half", "", "upstream_error", False)),
    (responses, "responses-error-event.sse", ("Half", "", "upstream_error", False)),
    (responses, "responses-content-filter.sse", ("Half", "", "content_filter", False)),
    (responses, "responses-no-terminal.sse", ("Half", "", "upstream_incomplete", False)),
]


@pytest.mark.parametrize(("api", "name", "expected"), CASES, ids=[case[1] for case in CASES])
def test_decodes_whole_and_split_at_every_byte(api, name, expected):
    data = (STREAMS / name).read_bytes()
    assert decode(api, data) == expected
    for cut in range(1, len(data)):
        assert decode(api, data, cut) == expected, f"split at byte {cut}"


def test_chat_completions_without_a_finish_is_incomplete():
    data = (STREAMS / "azure-v1-chat-usage.sse").read_bytes()
    head = data[: data.index(b'"finish_reason":"stop"')]
    head = head[: head.rindex(b"data:")]
    assert decode(chat_completions, head)[2] == "upstream_incomplete"


def test_malformed_json_is_an_upstream_error_not_a_crash():
    assert decode(chat_completions, b"data: {not json\n\n")[2] == "upstream_error"
    assert decode(responses, b'data: {"type":"response.output_text.delta","delta":\n\n')[2] == "upstream_error"


def test_crlf_line_ends_are_read():
    data = (STREAMS / "responses-incomplete-length.sse").read_bytes().replace(b"\n", b"\r\n")
    assert decode(responses, data)[0] == "Cut here"
