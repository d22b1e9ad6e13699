"""The Microsoft AI Chat Protocol (spec 2024-05-29): `/api/chat` and `/api/chat/stream`.

Kept for existing clients (`@microsoft/ai-chat-protocol`). Reasoning travels as
`{"delta":{"role":"assistant","context":{"reasoning":"…"}}}`, never in `delta.content`, and
`context.progress` names each phase (accepted, thinking, answering). Lines are assembled
from pre-encoded byte fragments: a text delta costs one JSON string encode and one join.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chat.conversation import Conversation, Message
from chat.errors import ChatError, invalid_request
from chat.events import Answer, Finish, Phase, Usage
from chat.protocols import (
    NDJSON,
    SSE,
    closing_context,
    decode_object,
    encode_json,
    message_list,
    role_of,
    wants_sse,
)
from chat.settings import Settings
from chat.telemetry import RequestRecord

name = "ai-chat"
# sessionState is echoed back: bounded so that encoding it can never hit the C stack's limit, which
# on Python 3.13 lets msgspec decode about 10,000 levels but not always encode them again.
MAX_SESSION_STATE_DEPTH = 64


@dataclass(frozen=True, slots=True)
class ChatRequest:
    conversation: Conversation
    session_state: Any = None
    context: dict[str, Any] | None = None
    stream: bool = True


def parse(body: bytes, settings: Settings) -> ChatRequest:
    """Validate a request body; raise `ChatError` (400) naming the first bad field."""
    data = decode_object(body)
    raw_messages = message_list(data)
    conversation = Conversation.checked(_messages(raw_messages), settings)
    context = data.get("context")
    if context is not None and not isinstance(context, dict):
        raise invalid_request("'context' must be an object.", field="context")
    # The spec's camelCase name wins; older Azure samples send snake_case.
    session_state = data["sessionState"] if "sessionState" in data else data.get("session_state")
    if _depth(session_state) > MAX_SESSION_STATE_DEPTH:
        raise invalid_request(
            f"'sessionState' may be nested at most {MAX_SESSION_STATE_DEPTH} levels deep.", field="sessionState"
        )
    return ChatRequest(conversation, session_state=session_state, context=context)


def _depth(value: Any) -> int:
    """How deeply a JSON value nests, without recursion (the value came from a client)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_SESSION_STATE_DEPTH:  # past the limit, deeper levels change nothing
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _messages(raw_messages: list[Any]) -> Iterator[Message]:
    for index, raw in enumerate(raw_messages):
        where = f"messages[{index}]"
        role = role_of(raw, where)
        content = raw.get("content")
        if not isinstance(content, str):
            raise invalid_request(f"'{where}.content' must be a string.", field=f"{where}.content")
        context = raw.get("context")
        if context is not None and not isinstance(context, dict):
            raise invalid_request(f"'{where}.context' must be an object.", field=f"{where}.context")
        yield Message(role=role, content=content)


def usage_of(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "total_tokens": usage.total_tokens,
    }


def answer(request: ChatRequest, result: Answer, record: RequestRecord) -> dict[str, Any]:
    """The `/api/chat` body: the whole answer, and the whole reasoning summary in `context`."""
    context = closing_context(result.finish, record, usage_of(result.finish.usage), result.reasoning)
    return {
        "message": {"role": "assistant", "content": result.text},
        "context": context,
        "sessionState": request.session_state,
    }


def encoder(request: ChatRequest, accept: str | None, record: RequestRecord) -> LineEncoder:
    return LineEncoder(request, record, sse=wants_sse(accept))


class LineEncoder:
    """Frames protocol events as NDJSON lines, or SSE events when the client asks for them."""

    headers: dict[str, str] = {}  # noqa: RUF012 - read-only
    resume: dict[str, Any] | None = None  # set by chat.resume: how to resume, told in the first line

    def __init__(self, request: ChatRequest, record: RequestRecord, *, sse: bool = False) -> None:
        self._request = request
        self._record = record
        self.media_type = SSE if sse else NDJSON
        self._head, self._tail = (b"data: ", b"\n\n") if sse else (b"", b"\n")
        # NDJSON keep-alive is a bare newline: the reference JS client skips blank lines.
        self.keep_alive = b": keep-alive\n\n" if sse else b"\n"
        self._text_head = self._head + b'{"delta":{"role":"assistant","content":'
        self._text_tail = b"}}" + self._tail
        self._reasoning_head = self._head + b'{"delta":{"role":"assistant","context":{"reasoning":'
        self._reasoning_tail = b"}}}" + self._tail

    def start(self) -> bytes:
        context: dict[str, Any] = {"progress": "accepted", "requestId": self._record.request_id}
        if self.resume is not None:
            context["resume"] = self.resume
        return self._event(
            {"delta": {"role": "assistant"}, "context": context, "sessionState": self._request.session_state}
        )

    def progress(self, phase: Phase) -> bytes:
        return self._event({"delta": {"role": "assistant"}, "context": {"progress": phase}})

    def text(self, text: str) -> bytes:
        return b"".join((self._text_head, encode_json(text), self._text_tail))

    def reasoning(self, text: str) -> bytes:
        return b"".join((self._reasoning_head, encode_json(text), self._reasoning_tail))

    def finish(self, finish: Finish) -> bytes:
        return self._event(
            {
                "delta": {"role": "assistant"},
                "context": closing_context(finish, self._record, usage_of(finish.usage)),
                "sessionState": self._request.session_state,
            }
        )

    def error(self, error: ChatError) -> bytes:
        return self._event(error.body())

    def _event(self, event: dict[str, Any]) -> bytes:
        return b"".join((self._head, encode_json(event), self._tail))
