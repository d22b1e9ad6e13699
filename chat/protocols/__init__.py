"""The wire protocols clients speak. Each is one module: a request parser and a stream encoder.

A protocol turns its request body into a `Conversation` (where the shared limits are checked),
and encodes the relay's protocol-neutral events as bytes. Everything else (limits, upstream,
relay, heartbeats, cancellation, error mapping) is shared and lives outside this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from chat.conversation import ROLES, Conversation, Role
from chat.errors import ChatError, invalid_request
from chat.events import Answer, Finish, Phase
from chat.telemetry import RequestRecord

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"

encode_json = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class ParsedRequest(Protocol):
    conversation: Conversation
    stream: bool


class StreamEncoder(Protocol):
    """One stream's encoder: stateful, since some protocols open and close parts."""

    media_type: str
    headers: Mapping[str, str]
    keep_alive: bytes

    def start(self) -> bytes: ...
    def progress(self, phase: Phase) -> bytes: ...
    def reasoning(self, text: str) -> bytes: ...
    def text(self, text: str) -> bytes: ...
    def finish(self, finish: Finish) -> bytes: ...
    def error(self, error: ChatError) -> bytes: ...


class ChatProtocol(Protocol):
    name: str

    def parse(self, body: bytes, settings: Any) -> ParsedRequest: ...
    def encoder(self, request: Any, accept: str | None, record: RequestRecord) -> StreamEncoder: ...
    def answer(self, request: Any, answer: Answer, record: RequestRecord) -> dict[str, Any]: ...


def decode_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying what is wrong with it."""
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
    return data


def message_list(data: dict[str, Any]) -> list[Any]:
    """The body's `messages`, which must be a list (each protocol checks its items)."""
    raw_messages = data.get("messages")
    if raw_messages is None:
        raise invalid_request("'messages' is required.", field="messages")
    if not isinstance(raw_messages, list):
        raise invalid_request("'messages' must be a list.", field="messages")
    return raw_messages


def role_of(raw: Any, where: str) -> Role:
    """A message's role, once the message is known to be an object naming one the app forwards."""
    if not isinstance(raw, dict):
        raise invalid_request(f"'{where}' must be an object.", field=where)
    role = raw.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise invalid_request(f"'{where}.role' must be one of: user, assistant, system.", field=f"{where}.role")
    return role  # type: ignore[return-value]


def closing_context(
    finish: Finish, record: RequestRecord, usage: dict[str, Any] | None, reasoning: str = ""
) -> dict[str, Any]:
    """The last word of an answer, as the JSON protocols put it: request id, finish reason, usage, timings,
    and (in a whole answer) the whole reasoning summary."""
    context: dict[str, Any] = {"requestId": record.request_id, "finish_reason": finish.reason}
    if usage is not None:
        context["usage"] = usage
    context["timings"] = record.timings()
    if reasoning:
        context["reasoning"] = reasoning
    return context


def wants_sse(accept: str | None) -> bool:
    return bool(accept) and SSE in accept.lower()  # type: ignore[operator]
