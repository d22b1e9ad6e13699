"""The Chat Completions API upstream: what llama.cpp, Ollama and vLLM speak, and Azure's v1 too.

Chunks are decoded with msgspec into the few fields the relay needs, instead of building a
pydantic model per chunk: that is most of the per-token CPU a relay spends (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from typing import Any

import msgspec

from chat import errors
from chat.conversation import Conversation
from chat.events import Event, Finish, Reasoning, Text, Usage
from chat.settings import Settings


class _Delta(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    # OpenAI-compatible servers stream reasoning under one name or the other (vLLM, DeepSeek,
    # llama.cpp: reasoning_content; Ollama, OpenRouter: reasoning). Azure never streams it here.
    reasoning_content: Any = None
    reasoning: Any = None


class _Choice(msgspec.Struct):
    index: int = 0
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Details(msgspec.Struct):
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    completion_tokens_details: _Details | None = None


class _Chunk(msgspec.Struct):
    """One `chat.completion.chunk`; unknown fields (filter results, obfuscation, tool calls) are skipped."""

    choices: list[_Choice] = msgspec.field(default_factory=list)
    usage: _Usage | None = None
    error: Any = None


_decode = msgspec.json.Decoder(_Chunk).decode


PATH = "chat/completions"  # under the v1 base URL


def options(conversation: Conversation, settings: Settings) -> dict[str, Any]:
    messages = [{"role": m.role, "content": m.content} for m in conversation.forwarded(settings)]
    if settings.system_prompt:
        messages.insert(0, {"role": "system", "content": settings.system_prompt})
    request: dict[str, Any] = {
        "model": settings.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if settings.openai_host == "azure":
        request["max_completion_tokens"] = settings.max_output_tokens
        request["store"] = False
    else:  # every OpenAI-compatible server knows the older name; not all know the newer one
        request["max_tokens"] = settings.max_output_tokens
    if settings.reasoning_effort:
        request["reasoning_effort"] = settings.reasoning_effort
    return request


class Decoder:
    """Answer and reasoning fragments, then one `Finish`; a body that ends unfinished raises."""

    def __init__(self) -> None:
        self._finish_reason: str | None = None
        self._usage: _Usage | None = None

    def feed(self, payload: bytes) -> Event | None:
        if payload == b"[DONE]":
            return self.end()
        try:
            chunk = _decode(payload)
        except msgspec.DecodeError:
            raise errors.upstream_error("The model service sent a malformed reply.") from None
        if chunk.error is not None:
            raise errors.upstream_error("The model service failed while answering.")
        if chunk.usage is not None:
            self._usage = chunk.usage
        event: Event | None = None
        for choice in chunk.choices:
            if choice.index:  # one answer was asked for; never mix in another choice's text
                continue
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    event = Text(delta.content)
                elif delta.refusal:
                    event = Text(delta.refusal)
                else:
                    reasoning = delta.reasoning_content or delta.reasoning
                    if reasoning and isinstance(reasoning, str):
                        event = Reasoning(reasoning)
            if choice.finish_reason is not None and self._finish_reason is None:
                self._finish_reason = choice.finish_reason
        return event

    def end(self) -> Event:
        if self._finish_reason is None:
            raise errors.upstream_incomplete()
        if self._finish_reason == "content_filter":
            raise errors.answer_filtered()
        return Finish(self._finish_reason, _usage(self._usage))


def _usage(usage: _Usage | None) -> Usage | None:
    if usage is None:
        return None
    details = usage.completion_tokens_details
    reasoning = details.reasoning_tokens if details is not None else None
    return Usage(usage.prompt_tokens, usage.completion_tokens, reasoning or 0)
