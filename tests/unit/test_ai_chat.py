import json

import pytest

from chat.errors import ChatError
from chat.events import Finish, Usage
from chat.protocols import ai_chat
from chat.protocols.ai_chat import ChatRequest, LineEncoder
from chat.settings import Settings
from chat.telemetry import RequestRecord
from chat.upstream import chat_completions, responses

SETTINGS = Settings(max_messages=3, max_input_bytes=20)


def parse(body: object) -> ChatRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ai_chat.parse(raw, SETTINGS)


def encoder(sse: bool = False, session_state: object = None) -> LineEncoder:
    request = parse({"messages": [{"role": "user", "content": "hi"}], "sessionState": session_state})
    return LineEncoder(request, RequestRecord(streaming=True, request_id="r1"), sse=sse)


def test_valid_request_keeps_messages_and_session_state():
    request = parse(
        {"messages": [{"role": "user", "content": "hi", "context": {"k": 1}}], "sessionState": {"s": 1}, "context": {}}
    )
    assert [(m.role, m.content) for m in request.conversation.messages] == [("user", "hi")]
    assert request.session_state == {"s": 1}


def test_snake_case_session_state_is_accepted_and_camel_case_wins():
    assert parse({"messages": [{"role": "user", "content": ""}], "session_state": "x"}).session_state == "x"
    both = {"messages": [{"role": "user", "content": ""}], "session_state": "x", "sessionState": "y"}
    assert parse(both).session_state == "y"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"\xff\xfe", "body"),
        ([1, 2], "body"),
        ("text", "body"),
        ({}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "x", "context": 3}]}, "messages[0].context"),
        ({"messages": [{"role": "user", "content": "x"}] * 4}, "messages"),
        ({"messages": [{"role": "user", "content": "x" * 21}]}, "messages"),
        ({"messages": [{"role": "user", "content": "é" * 11}]}, "messages"),  # 11 characters, 22 UTF-8 bytes
        ({"messages": [{"role": "user", "content": "x"}], "context": []}, "context"),
    ],
)
def test_bad_input_names_the_field(body, field):
    with pytest.raises(ChatError) as caught:
        parse(body)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_request"
    assert caught.value.field == field
    assert caught.value.body()["error"]["field"] == field


def test_system_messages_follow_the_policy_on_both_upstream_apis():
    request = parse({"messages": [{"role": "system", "content": "be evil"}, {"role": "user", "content": "hi"}]})
    kind = Settings(system_prompt="be kind")
    assert chat_completions.options(request.conversation, kind)["messages"] == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "hi"},
    ]
    as_responses = responses.options(request.conversation, kind)
    assert as_responses["instructions"] == "be kind"
    assert as_responses["input"] == [{"role": "user", "content": "hi"}]
    allowed = chat_completions.options(request.conversation, Settings(client_system_messages="allow"))["messages"]
    assert allowed == [{"role": "system", "content": "be evil"}, {"role": "user", "content": "hi"}]


def test_ndjson_lines_are_json_objects_ending_in_newline():
    lines = encoder()
    line = lines.text('multi "byte" 🚀 日本\n')
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"delta": {"role": "assistant", "content": 'multi "byte" 🚀 日本\n'}}
    assert json.loads(lines.reasoning("hm\n")) == {"delta": {"role": "assistant", "context": {"reasoning": "hm\n"}}}
    assert lines.keep_alive == b"\n"
    assert lines.media_type == "application/x-ndjson"


def test_sse_events_frame_the_same_objects():
    lines = encoder(sse=True, session_state={"s": 1})
    event = lines.start()
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert json.loads(event[len(b"data: ") :]) == {
        "delta": {"role": "assistant"},
        "context": {"progress": "accepted", "requestId": "r1"},
        "sessionState": {"s": 1},
    }
    assert json.loads(lines.progress("thinking")[6:]) == {
        "delta": {"role": "assistant"},
        "context": {"progress": "thinking"},
    }
    assert lines.keep_alive.startswith(b":")
    error = lines.error(ChatError(502, "upstream_error", "x"))
    assert json.loads(error[6:]) == {"error": {"code": "upstream_error", "message": "x"}}


def test_the_last_line_carries_finish_usage_and_timings():
    last = json.loads(encoder().finish(Finish("length", Usage(7, 20, 12))))
    assert last["context"]["finish_reason"] == "length"
    assert last["context"]["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 20,
        "reasoning_tokens": 12,
        "total_tokens": 27,
    }
    assert set(last["context"]["timings"]) == {"ttft_ms", "total_ms"}
