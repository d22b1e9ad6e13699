"""The Vercel AI SDK UI message stream, v1: `/api/ui/chat`, for `useChat` and `DefaultChatTransport`.

The request is what `DefaultChatTransport` posts: `{id, messages: [{id, role, parts}], trigger,
messageId, ...}`. The answer is SSE parts (`start`, `reasoning-*`, `text-*`, `finish`, then
`data: [DONE]`) carrying exactly the keys the SDK's schemas list: `ai` 5.0.0 and 6.0.0 validate
every part with strict schemas, where one unknown key fails the whole stream (later 5.x and 6.x
releases relaxed them). That is why the finish reason travels in `messageMetadata` and not as
`finish.finishReason`: 5.0's `finish` part has no such key (6.0 added it). Progress phases are
transient `data-progress` parts, which `useChat` hands to `onData` without storing them in the message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chat.conversation import Conversation, Message
from chat.errors import ChatError, invalid_request
from chat.events import Finish, Phase, Usage
from chat.protocols import SSE, decode_object, encode_json, message_list, role_of
from chat.settings import Settings
from chat.telemetry import RequestRecord

name = "ui-message"

# In the SDK's own words (`FinishReason` in `ai`): a filtered answer ends with an error part instead.
FINISH_REASONS = {"stop": "stop", "length": "length"}
DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class UIChatRequest:
    conversation: Conversation
    stream: bool = True
    chat_id: str | None = None  # `useChat`'s chat id: its resume request names it (GET {api}/{chatId}/stream)


def parse(body: bytes, settings: Settings) -> UIChatRequest:
    """Validate a `DefaultChatTransport` body; raise `ChatError` (400) naming the first bad field."""
    data = decode_object(body)
    raw_messages = message_list(data)
    for key in ("id", "trigger", "messageId"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise invalid_request(f"'{key}' must be a string.", field=key)
    return UIChatRequest(Conversation.checked(_messages(raw_messages), settings), chat_id=data.get("id") or None)


def _messages(raw_messages: list[Any]) -> Iterator[Message]:
    """Each message's text parts, joined; reasoning, tool, source, step and data parts carry no prompt."""
    for index, raw in enumerate(raw_messages):
        where = f"messages[{index}]"
        role = role_of(raw, where)
        parts = raw.get("parts")
        if not isinstance(parts, list):
            raise invalid_request(f"'{where}.parts' must be a list.", field=f"{where}.parts")
        texts = list(_texts(parts, where))
        if texts:  # a message of tool calls or reasoning only has nothing for the model to read
            yield Message(role=role, content="\n\n".join(texts))


def _texts(parts: list[Any], where: str) -> Iterator[str]:
    for index, part in enumerate(parts):
        at = f"{where}.parts[{index}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise invalid_request(f"'{at}' must be an object with a string 'type'.", field=at)
        kind = part["type"]
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid_request(f"'{at}.text' must be a string.", field=f"{at}.text")
            yield text
        elif kind == "file":
            raise invalid_request(f"'{at}' is a file: files are not supported, only text parts.", field=at)


def encoder(request: UIChatRequest, accept: str | None, record: RequestRecord) -> UIMessageStream:
    return UIMessageStream(record)


def usage_of(usage: Usage) -> dict[str, int]:
    """Token counts under the names of the SDK's `LanguageModelUsage`."""
    return {
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "reasoningTokens": usage.reasoning_tokens,
        "totalTokens": usage.total_tokens,
    }


class UIMessageStream:
    """Frames events as UI message stream parts: opens and closes one text or reasoning part at a time."""

    media_type = SSE
    headers = {"x-vercel-ai-ui-message-stream": "v1"}  # noqa: RUF012 - read-only
    keep_alive = b": keep-alive\n\n"
    resume: dict[str, Any] | None = None  # set by chat.resume: how to resume, told in the first part

    def __init__(self, record: RequestRecord) -> None:
        self._record = record
        self._open: str | None = None  # "text" or "reasoning": the part deltas go to
        self._id = b""
        self._parts = 0
        self._delta_head = b""

    def start(self) -> bytes:
        metadata: dict[str, Any] = {"requestId": self._record.request_id}
        if self.resume is not None:
            metadata["resume"] = self.resume
        return _part({"type": "start", "messageMetadata": metadata})

    def progress(self, phase: Phase) -> bytes:
        return _part({"type": "data-progress", "data": {"phase": phase}, "transient": True})

    def text(self, text: str) -> bytes:
        opening = b"" if self._open == "text" else self._switch("text")
        return b"".join((opening, self._delta_head, encode_json(text), b"}\n\n"))

    def reasoning(self, text: str) -> bytes:
        opening = b"" if self._open == "reasoning" else self._switch("reasoning")
        return b"".join((opening, self._delta_head, encode_json(text), b"}\n\n"))

    def finish(self, finish: Finish) -> bytes:
        metadata: dict[str, Any] = {
            "requestId": self._record.request_id,
            "finishReason": FINISH_REASONS.get(finish.reason, "other"),
        }
        if finish.usage is not None:
            metadata["usage"] = usage_of(finish.usage)
        timings = self._record.timings()
        metadata["timings"] = {"ttftMs": timings["ttft_ms"], "totalMs": timings["total_ms"]}
        return b"".join((self._close(), _part({"type": "finish", "messageMetadata": metadata}), DONE))

    def error(self, error: ChatError) -> bytes:
        # The open part is closed first, so the text so far stays in the message as a finished part.
        return b"".join((self._close(), _part({"type": "error", "errorText": error.message}), DONE))

    def _switch(self, kind: str) -> bytes:
        closing = self._close()
        self._open, self._id = kind, encode_json(f"{kind}-{self._parts}")
        self._parts += 1
        self._delta_head = b'data: {"type":"' + kind.encode() + b'-delta","id":' + self._id + b',"delta":'
        return closing + b'data: {"type":"' + kind.encode() + b'-start","id":' + self._id + b"}\n\n"

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        kind, self._open = self._open, None
        return b'data: {"type":"' + kind.encode() + b'-end","id":' + self._id + b"}\n\n"


def _part(part: dict[str, Any]) -> bytes:
    return b"".join((b"data: ", encode_json(part), b"\n\n"))
