"""The Microsoft AI Chat Protocol (spec 2024-05-29): validated requests in, encoded lines out.

Requests are checked field by field so that every bad input gets a 400 naming the field.
Output lines are assembled from pre-encoded byte fragments: a content delta costs one
JSON string encode and one join, which is the whole per-token work on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from chat.errors import ChatError, invalid_request
from chat.settings import Settings

Role = Literal["system", "user", "assistant"]
ROLES: frozenset[str] = frozenset(("system", "user", "assistant"))
Framing = Literal["ndjson", "sse"]

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    session_state: Any = None
    context: dict[str, Any] | None = None

    def upstream_messages(self, settings: Settings) -> list[dict[str, str]]:
        """The conversation as sent upstream, with the operator's system prompt applied by policy."""
        messages = [
            {"role": m.role, "content": m.content}
            for m in self.messages
            if m.role != "system" or settings.client_system_messages == "allow"
        ]
        if settings.system_prompt:
            messages.insert(0, {"role": "system", "content": settings.system_prompt})
        return messages


_decode = msgspec.json.Decoder().decode


def parse_chat_request(body: bytes, settings: Settings) -> ChatRequest:
    """Validate a request body; raise `ChatError` (400) naming the first bad field."""
    try:
        data = _decode(body)
    # msgspec reports invalid UTF-8 inside a string as UnicodeDecodeError, and nesting past its
    # limit (about 1,000 levels) as RecursionError: both are the client's malformed JSON.
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise invalid_request("The request body must be valid UTF-8 JSON.", field="body") from None
    except RecursionError:
        raise invalid_request("The request body is nested too deeply.", field="body") from None
    if not isinstance(data, dict):
        raise invalid_request("The request body must be a JSON object.", field="body")

    raw_messages = data.get("messages")
    if raw_messages is None:
        raise invalid_request("'messages' is required.", field="messages")
    if not isinstance(raw_messages, list):
        raise invalid_request("'messages' must be a list.", field="messages")
    if not raw_messages:
        raise invalid_request("'messages' must not be empty.", field="messages")
    if len(raw_messages) > settings.max_messages:
        raise invalid_request(f"'messages' may hold at most {settings.max_messages} messages.", field="messages")

    messages: list[ChatMessage] = []
    characters = 0
    for index, raw in enumerate(raw_messages):
        where = f"messages[{index}]"
        if not isinstance(raw, dict):
            raise invalid_request(f"'{where}' must be an object.", field=where)
        role = raw.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise invalid_request(f"'{where}.role' must be one of: user, assistant, system.", field=f"{where}.role")
        content = raw.get("content")
        if not isinstance(content, str):
            raise invalid_request(f"'{where}.content' must be a string.", field=f"{where}.content")
        context = raw.get("context")
        if context is not None and not isinstance(context, dict):
            raise invalid_request(f"'{where}.context' must be an object.", field=f"{where}.context")
        characters += len(content)
        if characters > settings.max_characters:
            raise invalid_request(
                f"The messages may hold at most {settings.max_characters} characters in all.", field="messages"
            )
        messages.append(ChatMessage(role=role, content=content))  # type: ignore[arg-type]

    context = data.get("context")
    if context is not None and not isinstance(context, dict):
        raise invalid_request("'context' must be an object.", field="context")
    # The spec's camelCase name wins; older Azure samples send snake_case.
    session_state = data["sessionState"] if "sessionState" in data else data.get("session_state")
    return ChatRequest(messages=tuple(messages), session_state=session_state, context=context)


def choose_framing(accept: str | None) -> Framing:
    """NDJSON unless the client asks for Server-Sent Events."""
    return "sse" if accept and SSE in accept.lower() else "ndjson"


encode_json = msgspec.json.Encoder().encode


class LineEncoder:
    """Frames protocol events as NDJSON lines or SSE events, as bytes ready to send."""

    def __init__(self, framing: Framing) -> None:
        self.media_type = SSE if framing == "sse" else NDJSON
        self._head, self._tail = (b"data: ", b"\n\n") if framing == "sse" else (b"", b"\n")
        # NDJSON keep-alive is a bare newline: the reference JS client skips blank lines.
        self.keep_alive = b": keep-alive\n\n" if framing == "sse" else b"\n"
        self._content_head = self._head + b'{"delta":{"role":"assistant","content":'
        self._content_tail = b"}}" + self._tail

    def content(self, text: str) -> bytes:
        return b"".join((self._content_head, encode_json(text), self._content_tail))

    def event(self, event: dict[str, Any]) -> bytes:
        return b"".join((self._head, encode_json(event), self._tail))

    def error(self, error: ChatError) -> bytes:
        return self.event(error.body())
