"""The Responses API upstream: Azure's default, and the only API that streams reasoning summaries.

Of its many event types the relay reads five and skips the rest (output items, content parts,
annotations, tool events, `sequence_number`, `obfuscation`) after one msgspec decode into a
struct of the few fields it needs. Unknown event types and fields never break a stream.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chat import errors
from chat.conversation import Conversation
from chat.events import THINKING, Event, Finish, Reasoning, Text, Usage
from chat.settings import Settings


class _Item(msgspec.Struct):
    type: Any = None


class _Details(msgspec.Struct):
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    output_tokens_details: _Details | None = None


class _Incomplete(msgspec.Struct):
    reason: str | None = None


class _Response(msgspec.Struct):
    usage: _Usage | None = None
    incomplete_details: _Incomplete | None = None


class _Event(msgspec.Struct):
    type: str = ""
    delta: Any = None
    summary_index: Any = None
    item: _Item | None = None
    response: _Response | None = None


class _TypeOnly(msgspec.Struct):
    type: Any = None


_decode = msgspec.json.Decoder(_Event).decode
_decode_type = msgspec.json.Decoder(_TypeOnly).decode

TEXT = "response.output_text.delta"
REFUSAL = "response.refusal.delta"  # shown as the answer: the model's own words for declining
SUMMARY = "response.reasoning_summary_text.delta"
SUMMARY_PART = "response.reasoning_summary_part.added"  # a new paragraph of the summary
REASONING_TEXT = "response.reasoning_text.delta"  # raw reasoning, from open-weight models on local servers
ITEM_ADDED = "response.output_item.added"
COMPLETED = "response.completed"
INCOMPLETE = "response.incomplete"
FAILURES = frozenset(("response.failed", "error"))
READ = frozenset((TEXT, REFUSAL, SUMMARY, SUMMARY_PART, REASONING_TEXT, ITEM_ADDED, COMPLETED, INCOMPLETE, *FAILURES))


PATH = "responses"  # under the v1 base URL


def options(conversation: Conversation, settings: Settings) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": settings.model,
        "input": [{"role": m.role, "content": m.content} for m in conversation.forwarded(settings)],
        "stream": True,
        "store": False,  # conversations are not kept by the service
        "max_output_tokens": settings.max_output_tokens,
    }
    if settings.system_prompt:
        request["instructions"] = settings.system_prompt
    reasoning: dict[str, str] = {}
    if settings.reasoning_effort:
        reasoning["effort"] = settings.reasoning_effort
    if settings.reasoning_summary != "off" and settings.reasoning_effort != "none":
        reasoning["summary"] = settings.reasoning_summary
    if reasoning:
        request["reasoning"] = reasoning
    return request


class Decoder:
    """Answer and reasoning fragments, then one `Finish`; a body that ends unfinished raises."""

    def __init__(self) -> None:
        self._reasoned = False  # summary parts are paragraphs: the second and later ones start on a new one

    def feed(self, payload: bytes) -> Event | None:
        try:
            event = _decode(payload)
        except msgspec.ValidationError:
            # A field of an unexpected type: harmless in an event the relay does not read.
            if _known_type(payload):
                raise errors.upstream_error("The model service sent a malformed reply.") from None
            return None
        except msgspec.DecodeError:
            raise errors.upstream_error("The model service sent a malformed reply.") from None
        kind = event.type
        if kind in (TEXT, REFUSAL):
            if isinstance(event.delta, str) and event.delta:
                return Text(event.delta)
        elif kind in (SUMMARY, REASONING_TEXT):
            if isinstance(event.delta, str) and event.delta:
                self._reasoned = True
                return Reasoning(event.delta)
        elif kind == SUMMARY_PART:
            if self._reasoned:
                return Reasoning("\n\n")
        elif kind == ITEM_ADDED:
            if event.item is not None and event.item.type == "reasoning":
                return THINKING
        elif kind == COMPLETED:
            return Finish("stop", _usage(event.response))
        elif kind == INCOMPLETE:
            details = event.response.incomplete_details if event.response else None
            reason = details.reason if details else None
            if reason == "content_filter":
                raise errors.answer_filtered()
            return Finish("length" if reason == "max_output_tokens" else reason or "incomplete", _usage(event.response))
        elif kind in FAILURES:
            raise errors.upstream_error("The model service failed while answering.")
        return None

    def end(self) -> Event:
        raise errors.upstream_incomplete()


def _known_type(payload: bytes) -> bool:
    try:
        return _decode_type(payload).type in READ
    except msgspec.DecodeError:
        return True


def _usage(response: _Response | None) -> Usage | None:
    usage = response.usage if response is not None else None
    if usage is None:
        return None
    details = usage.output_tokens_details
    reasoning = details.reasoning_tokens if details is not None else None
    return Usage(usage.input_tokens, usage.output_tokens, reasoning or 0)
