"""Chat Completions on the wire: Azure's chunks (prompt-filter chunk, filter results on every choice,
`obfuscation`) or an OpenAI-compatible local server's (llama.cpp, vLLM: plain chunks, reasoning as
`delta.reasoning_content`), each content chunk built from pre-encoded halves."""

from __future__ import annotations

import time
from typing import Any

from dev.simulator.encoding import (
    FILTER_RESULTS,
    FILTERED_OUTPUT,
    MODEL,
    NO_OBFUSCATION,
    OBFUSCATION_FIELDS,
    PROMPT_FILTER_RESULTS,
    dumps,
    json_string,
)
from dev.simulator.prompt import Prompt
from dev.simulator.rules import Plan

_FILTERS = dumps(FILTER_RESULTS)
SERVER_ERROR = {"code": "server_error", "message": "The server had an error while processing your request."}


def chat_usage(prompt: int, reasoning: int, answer: int) -> dict[str, Any]:
    completion = reasoning + answer
    return {
        "completion_tokens": completion,
        "completion_tokens_details": {
            "accepted_prediction_tokens": 0,
            "audio_tokens": 0,
            "reasoning_tokens": reasoning,
            "rejected_prediction_tokens": 0,
        },
        "prompt_tokens": prompt,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
        "total_tokens": prompt + completion,
    }


class ChatWire:
    def __init__(self, request_id: str, *, azure: bool, prompt: Prompt) -> None:
        self.azure = azure
        self.include_usage = prompt.include_usage
        self.prompt_tokens = prompt.prompt_tokens
        self._obfuscation = OBFUSCATION_FIELDS if prompt.obfuscate else NO_OBFUSCATION
        self.media_type = b"text/event-stream; charset=utf-8"
        self._key = "content"
        created = int(time.time())
        ident = f"chatcmpl-{request_id[:24]}"
        if azure:
            self._after = f'],"created":{created},"id":"{ident}","model":"{MODEL}"'
            self._close = ',"object":"chat.completion.chunk","system_fingerprint":null,"usage":'
        else:
            self._head = (
                f'data: {{"id":"{ident}","object":"chat.completion.chunk","created":{created},"model":"{MODEL}",'
                '"system_fingerprint":null,"choices":'
            )

    def _chunk(self, delta: str, finish: str = "null", filters: str = "{}", sized_like: str = "") -> bytes:
        if self.azure:
            padding = self._obfuscation[min(len(sized_like), 16)]
            return (
                f'data: {{"choices":[{{"content_filter_results":{filters},"delta":{delta},"finish_reason":{finish},'
                f'"index":0,"logprobs":null}}{self._after}{padding}{self._close}null}}\n\n'
            ).encode()
        return (
            f'{self._head}[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}],"usage":null}}\n\n'
        ).encode()

    def opening(self) -> bytes:
        """Sent with the headers: Azure's prompt-filter verdict comes before the model says anything."""
        if not self.azure:
            return b""
        prelude = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": PROMPT_FILTER_RESULTS,
        }
        return f"data: {dumps(prelude)}\n\n".encode()

    def accepted(self) -> bytes:
        if self.azure:
            return self._chunk('{"content":"","refusal":null,"role":"assistant"}')
        return self._chunk('{"role":"assistant","content":null}')

    def reasoning_start(self) -> bytes:
        return b""

    def reasoning_delta(self, part: int, piece: str) -> bytes:
        return self._chunk(f'{{"content":null,"reasoning_content":{json_string(piece)}}}')

    def reasoning_end(self) -> bytes:
        return b""

    def answer_start(self, refusal: bool) -> bytes:
        self._key = "refusal" if refusal else "content"
        return b""

    def answer_delta(self, token: str) -> bytes:
        if self.azure:
            return self._chunk(f'{{"{self._key}":{json_string(token)}}}', filters=_FILTERS, sized_like=token)
        return self._chunk(f'{{"{self._key}":{json_string(token)}}}')

    def ending(self, plan: Plan, usage: dict[str, Any]) -> bytes:
        """The finish chunk, the usage chunk when asked for, `[DONE]`; or the error line that ends a failed stream."""
        if plan.ending in ("error_event", "failed"):
            return f"data: {dumps({'error': SERVER_ERROR})}\n\n".encode()
        reason = "stop" if plan.ending == "stop" else plan.ending
        filters = dumps(FILTERED_OUTPUT) if reason == "content_filter" else "{}"
        out = self._chunk("{}", f'"{reason}"', filters)
        if self.include_usage:
            if self.azure:
                out += (
                    f'data: {{"choices":[{self._after}{self._obfuscation[0]}{self._close}{dumps(usage)}}}\n\n'.encode()
                )
            else:
                out += f'{self._head}[],"usage":{dumps(usage)}}}\n\n'.encode()
        return out + b"data: [DONE]\n\n"

    def usage(self, plan: Plan) -> dict[str, Any]:
        return chat_usage(self.prompt_tokens, plan.reasoning_tokens, len(plan.answer))

    def body(self, plan: Plan, request_id: str) -> dict[str, Any]:
        """The non-streamed answer."""
        text = "".join(plan.answer)
        message: dict[str, Any] = {
            "content": None if plan.refusal else text,
            "refusal": text if plan.refusal else None,
            "role": "assistant",
        }
        if plan.reasoning and not self.azure:
            message["reasoning_content"] = "".join(piece for _, piece in plan.reasoning)
        choice: dict[str, Any] = {"finish_reason": plan.ending, "index": 0, "logprobs": None, "message": message}
        body: dict[str, Any] = {
            "choices": [choice],
            "created": int(time.time()),
            "id": f"chatcmpl-{request_id[:24]}",
            "model": MODEL,
            "object": "chat.completion",
            "system_fingerprint": None,
            "usage": self.usage(plan),
        }
        if self.azure:
            filters = FILTERED_OUTPUT if plan.ending == "content_filter" else FILTER_RESULTS
            choice["content_filter_results"] = filters
            body["prompt_filter_results"] = PROMPT_FILTER_RESULTS
        return body
