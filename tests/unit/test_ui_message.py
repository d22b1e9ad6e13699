import json

import pytest

from chat import errors
from chat.errors import ChatError
from chat.events import Finish, Usage
from chat.protocols import ui_message
from chat.protocols.ui_message import UIChatRequest, UIMessageStream
from chat.settings import Settings
from chat.telemetry import RequestRecord
from tests.ui_parts import UI_PART_KEYS

SETTINGS = Settings(max_messages=3, max_input_bytes=20)


def parse(body: object) -> UIChatRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ui_message.parse(raw, SETTINGS)


def user(*parts: dict) -> dict:
    return {"id": "m1", "role": "user", "parts": list(parts)}


def text(value: str) -> dict:
    return {"type": "text", "text": value}


def parts(encoded: bytes) -> list[dict | str]:
    """The SSE events of `encoded`, each a JSON part or the `[DONE]` marker."""
    assert encoded.endswith(b"\n\n")
    events = encoded.decode().split("\n\n")[:-1]
    assert all(event.startswith("data: ") and "\n" not in event for event in events)
    return [event[6:] if event == "data: [DONE]" else json.loads(event[6:]) for event in events]


def test_the_transport_body_becomes_the_conversation():
    request = parse(
        {
            "id": "chat-1",
            "messages": [
                {"id": "s", "role": "system", "parts": [text("be brief")]},
                user(text("hi"), {"type": "step-start"}, text("there")),
                {"id": "a", "role": "assistant", "parts": [{"type": "reasoning", "text": "hm"}, text("yo")]},
            ],
            "trigger": "regenerate-message",
            "messageId": "a",
            "anything": {"the app": "passes"},
        }
    )
    assert [(m.role, m.content) for m in request.conversation.messages] == [
        ("system", "be brief"),
        ("user", "hi\n\nthere"),
        ("assistant", "yo"),
    ]
    assert request.stream is True


def test_messages_without_text_carry_nothing_upstream():
    tools_only = {"id": "a", "role": "assistant", "parts": [{"type": "tool-weather", "toolCallId": "c", "state": "x"}]}
    request = parse({"messages": [user(text("hi")), tools_only, user(text("again"))]})
    assert [m.content for m in request.conversation.messages] == ["hi", "again"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        ([], "body"),
        ({}, "messages"),
        ({"messages": {}}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [user({"type": "step-start"})]}, "messages"),  # nothing left to send
        ({"messages": [5]}, "messages[0]"),
        ({"messages": [{"role": "tool", "parts": [text("x")]}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "x"}]}, "messages[0].parts"),
        ({"messages": [user("x")]}, "messages[0].parts[0]"),
        ({"messages": [user({"text": "x"})]}, "messages[0].parts[0]"),
        ({"messages": [user({"type": "text", "text": None})]}, "messages[0].parts[0].text"),
        (
            {"messages": [user(text("x"), {"type": "file", "mediaType": "image/png", "url": "u"})]},
            "messages[0].parts[1]",
        ),
        ({"messages": [user(text("x"))] * 4}, "messages"),
        ({"messages": [user(text("é" * 11))]}, "messages"),  # 22 UTF-8 bytes
        ({"messages": [user(text("x"))], "id": 1}, "id"),
        ({"messages": [user(text("x"))], "trigger": []}, "trigger"),
        ({"messages": [user(text("x"))], "messageId": 2}, "messageId"),
    ],
)
def test_bad_input_names_the_field(body, field):
    with pytest.raises(ChatError) as caught:
        parse(body)
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, "invalid_request", field)


def test_file_parts_are_refused_by_name():
    with pytest.raises(ChatError) as caught:
        parse({"messages": [user({"type": "file", "mediaType": "image/png", "url": "data:,"})]})
    assert "file" in caught.value.message


def stream() -> UIMessageStream:
    return ui_message.encoder(parse({"messages": [user(text("hi"))]}), None, RequestRecord(True, request_id="r1"))


def test_headers_framing_and_keep_alive():
    encoder = stream()
    assert encoder.media_type == "text/event-stream"
    assert encoder.headers == {"x-vercel-ai-ui-message-stream": "v1"}
    assert encoder.keep_alive == b": keep-alive\n\n"  # an SSE comment: clients skip it


def test_parts_open_before_their_deltas_and_close_when_the_kind_changes():
    encoder = stream()
    encoded = b"".join(
        (
            encoder.start(),
            encoder.progress("thinking"),
            encoder.reasoning("hm"),
            encoder.reasoning(" ok"),
            encoder.progress("answering"),
            encoder.text('say "hi" 🚀\n'),
            encoder.text("!"),
            encoder.reasoning("again"),
            encoder.text("done"),
            encoder.finish(Finish("stop", Usage(3, 9, 4))),
        )
    )
    events = parts(encoded)
    assert events[-1] == "[DONE]"
    sequence = [(p["type"], p.get("id"), p.get("delta")) for p in events[:-1]]
    assert sequence == [
        ("start", None, None),
        ("data-progress", None, None),
        ("reasoning-start", "reasoning-0", None),
        ("reasoning-delta", "reasoning-0", "hm"),
        ("reasoning-delta", "reasoning-0", " ok"),
        ("data-progress", None, None),
        ("reasoning-end", "reasoning-0", None),
        ("text-start", "text-1", None),
        ("text-delta", "text-1", 'say "hi" 🚀\n'),
        ("text-delta", "text-1", "!"),
        ("text-end", "text-1", None),
        ("reasoning-start", "reasoning-2", None),
        ("reasoning-delta", "reasoning-2", "again"),
        ("reasoning-end", "reasoning-2", None),
        ("text-start", "text-3", None),
        ("text-delta", "text-3", "done"),
        ("text-end", "text-3", None),
        ("finish", None, None),
    ]
    for part in events[:-1]:
        required, optional = UI_PART_KEYS[part["type"]]
        assert required <= part.keys() <= required | optional, part
    assert events[0] == {"type": "start", "messageMetadata": {"requestId": "r1"}}
    assert events[1] == {"type": "data-progress", "data": {"phase": "thinking"}, "transient": True}
    metadata = events[-2]["messageMetadata"]
    assert metadata["requestId"] == "r1" and metadata["finishReason"] == "stop"
    assert metadata["usage"] == {"inputTokens": 3, "outputTokens": 9, "reasoningTokens": 4, "totalTokens": 12}
    assert set(metadata["timings"]) == {"ttftMs", "totalMs"}


@pytest.mark.parametrize(("reason", "expected"), [("stop", "stop"), ("length", "length"), ("incomplete", "other")])
def test_finish_reasons_use_the_sdk_vocabulary(reason, expected):
    finish = parts(stream().finish(Finish(reason)))
    assert finish[0] == {"type": "finish", "messageMetadata": finish[0]["messageMetadata"]}
    assert finish[0]["messageMetadata"]["finishReason"] == expected
    assert "usage" not in finish[0]["messageMetadata"]  # none given, none invented


def test_an_error_closes_the_open_part_then_ends_the_stream():
    encoder = stream()
    encoder.text("red fox")
    events = parts(encoder.error(errors.upstream_interrupted()))
    assert events == [
        {"type": "text-end", "id": "text-0"},
        {"type": "error", "errorText": "The model's reply was cut off."},
        "[DONE]",
    ]


def test_an_error_before_any_part_is_just_the_error():
    assert parts(stream().error(errors.upstream_error())) == [
        {"type": "error", "errorText": "The model service failed to answer."},
        "[DONE]",
    ]
