import json

import pytest

from chat import errors
from chat.errors import ChatError
from chat.events import Answer, Finish, Usage
from chat.protocols import responses_ndjson
from chat.protocols.responses_ndjson import EventEncoder, ResponsesRequest
from chat.settings import Settings
from chat.telemetry import RequestRecord

SETTINGS = Settings(max_messages=3, max_input_bytes=20)


def parse(body: object) -> ResponsesRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return responses_ndjson.parse(raw, SETTINGS)


def conversation(request: ResponsesRequest) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in request.conversation.messages]


def test_the_quickstart_body_becomes_the_conversation():
    request = parse(
        {
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be brief"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "yo"}]},
            ]
        }
    )
    assert conversation(request) == [("system", "be brief"), ("user", "hi"), ("assistant", "yo")]
    assert request.stream is True  # the samples post no `stream` and read a stream


def test_short_forms_and_the_messages_alias():
    assert conversation(parse({"messages": [{"role": "user", "content": "hi"}]})) == [("user", "hi")]
    assert conversation(parse({"input": "hi", "stream": False})) == [("user", "hi")]
    assert parse({"input": "hi", "stream": False, "context": {"overrides": {}}}).stream is False
    parts = [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]
    assert conversation(parse({"input": [{"role": "user", "content": parts}]})) == [("user", "a\n\nb")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{nope", "body"),
        ("text", "body"),
        ({}, "input"),
        ({"input": None}, "input"),
        ({"input": 5}, "input"),
        ({"messages": {}}, "messages"),
        ({"input": []}, "input"),
        ({"messages": []}, "messages"),
        ({"input": [1]}, "input[0]"),
        ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user", "content": None}]}, "input[0].content"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]}, "input[0].content[0]"),
        ({"input": [{"role": "user", "content": ["x"]}]}, "input[0].content[0]"),
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text"),
        ({"input": [{"role": "user", "content": "x"}] * 4}, "input"),
        ({"input": "é" * 11}, "input"),  # 22 UTF-8 bytes
        ({"input": "x", "stream": "true"}, "stream"),
        ({"input": "x", "context": "c"}, "context"),
    ],
)
def test_bad_input_names_the_field(body, field):
    with pytest.raises(ChatError) as caught:
        parse(body)
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, "invalid_request", field)


def record() -> RequestRecord:
    return RequestRecord(True, request_id="r1")


def test_ndjson_lines_are_shaped_like_responses_events():
    encoder = EventEncoder(record())
    assert encoder.media_type == "application/x-ndjson" and encoder.keep_alive == b"\n"
    lines = [
        encoder.start(),
        encoder.progress("thinking"),
        encoder.reasoning("hm 🤔"),
        encoder.text('say "hi"\n'),
        encoder.finish(Finish("stop", Usage(3, 9, 4))),
    ]
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    objects = [json.loads(line) for line in lines]
    assert objects[:4] == [
        {"type": "response.context", "context": {"progress": "accepted", "requestId": "r1"}},
        {"type": "response.context", "context": {"progress": "thinking"}},
        {"type": "response.reasoning_summary_text.delta", "delta": "hm 🤔"},
        {"type": "response.output_text.delta", "delta": 'say "hi"\n'},
    ]
    completed = objects[4]
    assert completed["type"] == "response.completed"
    assert completed["context"]["finish_reason"] == "stop" and completed["context"]["requestId"] == "r1"
    assert completed["context"]["usage"] == {
        "input_tokens": 3,
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 4},
        "total_tokens": 12,
    }
    assert set(completed["context"]["timings"]) == {"ttft_ms", "total_ms"}
    error = json.loads(encoder.error(errors.upstream_interrupted()))
    assert error == {
        "type": "error",
        "error": {"code": "upstream_interrupted", "message": "The model's reply was cut off."},
    }


def test_sse_events_are_named_by_their_type():
    encoder = responses_ndjson.encoder(parse({"input": "hi"}), "text/event-stream", record())
    assert encoder.media_type == "text/event-stream" and encoder.keep_alive == b": keep-alive\n\n"
    for line in (encoder.start(), encoder.text("a"), encoder.reasoning("b"), encoder.finish(Finish("length"))):
        head, data = line.decode().removesuffix("\n\n").split("\n")
        assert head == "event: " + json.loads(data.removeprefix("data: "))["type"]
    error = encoder.error(errors.upstream_error())
    assert error.startswith(b"event: error\ndata: {") and error.endswith(b"}\n\n")


def test_the_whole_answer_is_output_text_with_context():
    request = parse({"input": "hi", "stream": False})
    body = responses_ndjson.answer(request, Answer("Hello", "thought", Finish("stop", Usage(1, 2))), record())
    assert body["output_text"] == "Hello"
    assert body["context"]["reasoning"] == "thought" and body["context"]["finish_reason"] == "stop"
    assert body["context"]["usage"]["output_tokens"] == 2
    plain = responses_ndjson.answer(request, Answer("Hello", "", Finish("stop")), record())
    assert "reasoning" not in plain["context"] and "usage" not in plain["context"]
