"""The Azure samples' 2026 protocol: Responses API input in, NDJSON lines shaped like its events out.

`/api/responses` takes `{input: [...], stream?, context?}` (`messages` is an alias of `input`),
as openai-chat-app-quickstart and its siblings post it, and streams the lines their front ends
read with `ndjson-readablestream`: `response.output_text.delta` and
`response.reasoning_summary_text.delta` with a `delta`, plus the samples' own
`response.context` lines (request id and progress). The last line is `response.completed` with
the finish reason, usage (Responses API names) and timings, or an `error` line. With
`Accept: text/event-stream` the same objects are SSE events named by their `type`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chat.conversation import Conversation, Message
from chat.errors import ChatError, invalid_request
from chat.events import Answer, Finish, Phase, Usage
from chat.protocols import NDJSON, SSE, closing_context, decode_object, encode_json, wants_sse
from chat.settings import Settings
from chat.telemetry import RequestRecord

name = "responses"

# The Responses API's `developer` role is what Chat Completions calls `system`.
ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
TEXT_PARTS = frozenset(("input_text", "output_text"))

TEXT = "response.output_text.delta"
REASONING = "response.reasoning_summary_text.delta"
CONTEXT = "response.context"
COMPLETED = "response.completed"
ERROR = "error"


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    conversation: Conversation
    stream: bool = True
    context: dict[str, Any] | None = None


def parse(body: bytes, settings: Settings) -> ResponsesRequest:
    """Validate a request body; raise `ChatError` (400) naming the first bad field."""
    data = decode_object(body)
    field = "input" if "input" in data else "messages"
    raw = data.get(field)
    if raw is None:
        raise invalid_request("'input' (or its alias 'messages') is required.", field="input")
    if isinstance(raw, str):  # the Responses API's short form: one user message
        messages: Iterator[Message] = iter((Message(role="user", content=raw),))
    elif isinstance(raw, list):
        messages = _items(raw, field)
    else:
        raise invalid_request(f"'{field}' must be a list of messages or a string.", field=field)
    conversation = Conversation.checked(messages, settings, field=field)
    stream = data.get("stream", True)  # the samples post no `stream` and expect one
    if not isinstance(stream, bool):
        raise invalid_request("'stream' must be true or false.", field="stream")
    context = data.get("context")
    if context is not None and not isinstance(context, dict):
        raise invalid_request("'context' must be an object.", field="context")
    return ResponsesRequest(conversation, stream=stream, context=context)


def _items(raw_items: list[Any], field: str) -> Iterator[Message]:
    for index, item in enumerate(raw_items):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            raise invalid_request(f"'{where}' must be an object.", field=where)
        if item.get("type", "message") != "message":
            message = f"'{where}.type' must be 'message': other input items are not supported."
            raise invalid_request(message, field=f"{where}.type")
        role = item.get("role")
        if not isinstance(role, str) or role not in ROLES:
            message = f"'{where}.role' must be one of: user, assistant, system, developer."
            raise invalid_request(message, field=f"{where}.role")
        yield Message(role=ROLES[role], content=_content(item.get("content"), f"{where}.content"))  # type: ignore[arg-type]


def _content(content: Any, where: str) -> str:
    """A string, or the text of `input_text`/`output_text` parts; images and files are refused."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_request(f"'{where}' must be a string or a list of text parts.", field=where)
    texts = []
    for index, part in enumerate(content):
        at = f"{where}[{index}]"
        if not isinstance(part, dict) or part.get("type") not in TEXT_PARTS:
            raise invalid_request(f"'{at}' must be an input_text or output_text part.", field=at)
        text = part.get("text")
        if not isinstance(text, str):
            raise invalid_request(f"'{at}.text' must be a string.", field=f"{at}.text")
        texts.append(text)
    return "\n\n".join(texts)


def usage_of(usage: Usage | None) -> dict[str, Any] | None:
    """Token counts under the Responses API's own names."""
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def answer(request: ResponsesRequest, result: Answer, record: RequestRecord) -> dict[str, Any]:
    """The `stream: false` body: the whole answer as `output_text`, the reasoning summary in `context`."""
    context = closing_context(result.finish, record, usage_of(result.finish.usage), result.reasoning)
    return {"output_text": result.text, "context": context}


def encoder(request: ResponsesRequest, accept: str | None, record: RequestRecord) -> EventEncoder:
    return EventEncoder(record, sse=wants_sse(accept))


class EventEncoder:
    """Frames events as NDJSON lines, or as SSE events named by their `type` when the client asks."""

    headers: dict[str, str] = {}  # noqa: RUF012 - read-only
    resume: dict[str, Any] | None = None  # set by chat.resume: how to resume, told in the first line

    def __init__(self, record: RequestRecord, *, sse: bool = False) -> None:
        self._record = record
        self._sse = sse
        self.media_type = SSE if sse else NDJSON
        # NDJSON keep-alive is a bare newline: ndjson-readablestream skips lines that are not JSON.
        self.keep_alive = b": keep-alive\n\n" if sse else b"\n"
        self._tail = b"}\n\n" if sse else b"}\n"
        self._text_head = self._head(TEXT) + b'{"type":"' + TEXT.encode() + b'","delta":'
        self._reasoning_head = self._head(REASONING) + b'{"type":"' + REASONING.encode() + b'","delta":'

    def start(self) -> bytes:
        context: dict[str, Any] = {"progress": "accepted", "requestId": self._record.request_id}
        if self.resume is not None:
            context["resume"] = self.resume
        return self._event(CONTEXT, {"context": context})

    def progress(self, phase: Phase) -> bytes:
        return self._event(CONTEXT, {"context": {"progress": phase}})

    def text(self, text: str) -> bytes:
        return b"".join((self._text_head, encode_json(text), self._tail))

    def reasoning(self, text: str) -> bytes:
        return b"".join((self._reasoning_head, encode_json(text), self._tail))

    def finish(self, finish: Finish) -> bytes:
        return self._event(COMPLETED, {"context": closing_context(finish, self._record, usage_of(finish.usage))})

    def error(self, error: ChatError) -> bytes:
        return self._event(ERROR, {"error": {"code": error.code, "message": error.message}})

    def _head(self, kind: str) -> bytes:
        return b"event: " + kind.encode() + b"\ndata: " if self._sse else b""

    def _event(self, kind: str, fields: dict[str, Any]) -> bytes:
        return b"".join((self._head(kind), encode_json({"type": kind, **fields}), b"\n\n" if self._sse else b"\n"))
