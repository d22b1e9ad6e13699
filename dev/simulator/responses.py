"""The Responses API on the wire: `event:`/`data:` pairs with a rising `sequence_number`, no `[DONE]`.

A reasoning item (summary parts, when the request asked for a summary) comes before the message
item; the stream ends with `response.completed`, `response.incomplete` (max_output_tokens or
content_filter), `response.failed`, or a bare `error` event. Deltas, the bulk of a stream, are
built from pre-encoded halves; the few lifecycle events go through `dumps`.
"""

from __future__ import annotations

import time
from typing import Any

from dev.simulator.encoding import MODEL, NO_OBFUSCATION, OBFUSCATION_FIELDS, dumps, json_string, sse
from dev.simulator.prompt import Prompt
from dev.simulator.rules import Plan

SERVER_ERROR = "The server had an error while processing your request."
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def responses_usage(prompt: int, reasoning: int, answer: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": reasoning + answer,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + reasoning + answer,
    }


class ResponsesWire:
    def __init__(self, request_id: str, request: dict[str, Any], prompt: Prompt) -> None:
        self.prompt_tokens = prompt.prompt_tokens
        self._obfuscation = OBFUSCATION_FIELDS if prompt.obfuscate else NO_OBFUSCATION
        self.media_type = b"text/event-stream; charset=utf-8"
        self._sequence = 0
        self._id = f"resp_{request_id}"
        self._reasoning_id = f"rs_{request_id}"
        self._message_id = f"msg_{request_id}"
        self._created = int(time.time())
        reasoning = request.get("reasoning") or {}
        self._echo = {
            "instructions": request.get("instructions"),
            "max_output_tokens": prompt.cap,
            "reasoning": {"effort": reasoning.get("effort", "none"), "summary": reasoning.get("summary")},
            "store": request.get("store", True),
        }
        self._parts: list[list[str]] = []  # reasoning summary pieces sent, part by part
        self._answer: list[str] = []
        self._refusal = False
        self._message_index = 0
        self._output: list[dict[str, Any]] = []  # items done
        self._delta_type = self._delta_head = self._delta_where = ""  # set once the answer starts

    def _event(self, kind: str, fields: dict[str, Any]) -> bytes:
        sequence, self._sequence = self._sequence, self._sequence + 1
        return sse(kind, dumps({"type": kind, "sequence_number": sequence, **fields}))

    def _response(self, status: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "response",
            "created_at": self._created,
            "status": status,
            "background": False,
            "content_filters": None,
            "error": None,
            "incomplete_details": None,
            "instructions": self._echo["instructions"],
            "max_output_tokens": self._echo["max_output_tokens"],
            "max_tool_calls": None,
            "model": MODEL,
            "output": [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "prompt_cache_key": None,
            "reasoning": self._echo["reasoning"],
            "safety_identifier": None,
            "service_tier": "default",
            "store": self._echo["store"],
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None,
            "user": None,
            "metadata": {},
            **fields,
        }

    def _reasoning_item(self, parts: list[str]) -> dict[str, Any]:
        summary = [{"type": "summary_text", "text": text} for text in parts]
        return {"id": self._reasoning_id, "type": "reasoning", "summary": summary}

    def _part(self, text: str) -> dict[str, Any]:
        if self._refusal:
            return {"type": "refusal", "refusal": text}
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def _message_item(self, status: str, text: str) -> dict[str, Any]:
        content = [self._part(text)] if status != "in_progress" else []
        return {"id": self._message_id, "type": "message", "status": status, "content": content, "role": "assistant"}

    def opening(self) -> bytes:
        return self._event("response.created", {"response": self._response("in_progress")})

    def accepted(self) -> bytes:
        return self._event("response.in_progress", {"response": self._response("in_progress")})

    def reasoning_start(self) -> bytes:
        self._message_index = 1
        return self._event("response.output_item.added", {"output_index": 0, "item": self._reasoning_item([])})

    def reasoning_delta(self, part: int, piece: str) -> bytes:
        out = b""
        if part >= len(self._parts):
            out = self._close_summary_part() + self._event(
                "response.reasoning_summary_part.added",
                {
                    "item_id": self._reasoning_id,
                    "output_index": 0,
                    "summary_index": part,
                    "part": {"type": "summary_text", "text": ""},
                },
            )
            self._parts.append([])
        self._parts[-1].append(piece)
        sequence, self._sequence = self._sequence, self._sequence + 1
        payload = (
            f'{{"type":"response.reasoning_summary_text.delta","sequence_number":{sequence},'
            f'"item_id":"{self._reasoning_id}","output_index":0,"summary_index":{part},'
            f'"delta":{json_string(piece)}{self._obfuscation[min(len(piece), 16)]}}}'
        )
        return out + f"event: response.reasoning_summary_text.delta\ndata: {payload}\n\n".encode()

    def _close_summary_part(self) -> bytes:
        if not self._parts:
            return b""
        index, text = len(self._parts) - 1, "".join(self._parts[-1])
        where = {"item_id": self._reasoning_id, "output_index": 0, "summary_index": index}
        return self._event("response.reasoning_summary_text.done", {**where, "text": text}) + self._event(
            "response.reasoning_summary_part.done", {**where, "part": {"type": "summary_text", "text": text}}
        )

    def reasoning_end(self) -> bytes:
        item = self._reasoning_item(["".join(p) for p in self._parts])
        self._output.append(item)
        return self._close_summary_part() + self._event("response.output_item.done", {"output_index": 0, "item": item})

    def answer_start(self, refusal: bool) -> bytes:
        self._refusal = refusal
        index = self._message_index
        self._delta_type = "response.refusal.delta" if refusal else "response.output_text.delta"
        self._delta_head = f'{{"type":"{self._delta_type}","sequence_number":'
        self._delta_where = f',"item_id":"{self._message_id}","output_index":{index},"content_index":0,"delta":'
        return self._event(
            "response.output_item.added", {"output_index": index, "item": self._message_item("in_progress", "")}
        ) + self._event(
            "response.content_part.added",
            {"item_id": self._message_id, "output_index": index, "content_index": 0, "part": self._part("")},
        )

    def answer_delta(self, token: str) -> bytes:
        self._answer.append(token)
        sequence, self._sequence = self._sequence, self._sequence + 1
        text = json_string(token)
        tail = "}" if self._refusal else f',"logprobs":[]{self._obfuscation[min(len(token), 16)]}}}'
        payload = f"{self._delta_head}{sequence}{self._delta_where}{text}{tail}"
        return f"event: {self._delta_type}\ndata: {payload}\n\n".encode()

    def _close_message(self, status: str) -> bytes:
        text, index = "".join(self._answer), self._message_index
        where = {"item_id": self._message_id, "output_index": index, "content_index": 0}
        if self._refusal:
            done = self._event("response.refusal.done", {**where, "refusal": text})
        else:
            done = self._event("response.output_text.done", {**where, "text": text, "logprobs": []})
        item = self._message_item(status, text)
        self._output.append(item)
        return (
            done
            + self._event("response.content_part.done", {**where, "part": self._part(text)})
            + self._event("response.output_item.done", {"output_index": index, "item": item})
        )

    def ending(self, plan: Plan, usage: dict[str, Any]) -> bytes:
        if plan.ending == "error_event":
            return self._event("error", {"code": "server_error", "message": SERVER_ERROR, "param": None})
        if plan.ending == "failed":
            error = {"code": "server_error", "message": SERVER_ERROR}
            failed = self._response("failed", error=error, output=self._output)
            return self._event("response.failed", {"response": failed})
        reason = _INCOMPLETE.get(plan.ending)
        out = self._close_message("incomplete" if reason else "completed") if plan.message else b""
        if reason:
            incomplete = {"reason": reason}
            final = self._response("incomplete", incomplete_details=incomplete, output=self._output, usage=usage)
            return out + self._event("response.incomplete", {"response": final})
        final = self._response("completed", output=self._output, usage=usage)
        return out + self._event("response.completed", {"response": final})

    def usage(self, plan: Plan) -> dict[str, Any]:
        return responses_usage(self.prompt_tokens, plan.reasoning_tokens, len(plan.answer))

    def body(self, plan: Plan, request_id: str) -> dict[str, Any]:
        """The non-streamed response object (no `output_text`: that is an SDK convenience, not on the wire)."""
        output: list[dict[str, Any]] = []
        if plan.reasoning_item:
            parts: dict[int, list[str]] = {}
            for part, piece in plan.reasoning:
                parts.setdefault(part, []).append(piece)
            output.append(self._reasoning_item(["".join(p) for p in parts.values()]))
        reason = _INCOMPLETE.get(plan.ending)
        if plan.message:
            self._refusal = plan.refusal
            output.append(self._message_item("incomplete" if reason else "completed", "".join(plan.answer)))
        usage = self.usage(plan)
        if reason:
            return self._response("incomplete", incomplete_details={"reason": reason}, output=output, usage=usage)
        return self._response("completed", output=output, usage=usage)
