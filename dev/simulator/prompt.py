"""What a Chat Completions or Responses request asks for, read the way the service reads it.

Bad requests get the service's 400 shape (`invalid_request_error` naming the `param`), so a client
that sends something the real service would refuse finds out here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
SUMMARIES = ("auto", "concise", "detailed")
# The Responses API refuses smaller caps ("integer below minimum value").
MIN_OUTPUT_TOKENS = 16


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        error = {"message": str(self), "type": "invalid_request_error", "param": self.param, "code": self.code}
        return {"error": error}


@dataclass(frozen=True)
class Prompt:
    last_user: str  # the text rules match against
    prompt_tokens: int  # a rough count, stable for the same request
    cap: int | None  # output tokens the request allows, reasoning included
    stream: bool
    include_usage: bool  # Chat Completions: stream_options.include_usage
    summary: bool  # Responses: a reasoning summary was asked for
    obfuscate: bool  # stream_options.include_obfuscation is not false


def read_chat(body: Any) -> Prompt:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", None, "invalid_type")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    texts: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(f"Invalid value for 'messages[{index}]': expected an object with a role.", "messages")
        texts.append((message["role"], _text(message.get("content"), f"messages[{index}].content")))
    options = _stream_options(body)
    cap = None
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None:
            cap = _count(body[name], name, 1)
            break
    return Prompt(
        last_user=next((text for role, text in reversed(texts) if role == "user"), ""),
        prompt_tokens=_tokens_of(texts),
        cap=cap,
        stream=_flag(body, "stream"),
        include_usage=bool(options.get("include_usage")),
        summary=False,
        obfuscate=options.get("include_obfuscation") is not False,
    )


def read_responses(body: Any) -> Prompt:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", None, "invalid_type")
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [("user", raw)]
    elif isinstance(raw, list):
        texts = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise BadRequest(f"Invalid type for 'input[{index}]': expected an object.", "input", "invalid_type")
            if item.get("type", "message") == "message":  # other items (tool calls, reasoning) carry no prompt text
                texts.append((str(item.get("role", "")), _text(item.get("content"), f"input[{index}].content")))
    elif raw is None:
        raise BadRequest("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    else:
        raise BadRequest("Invalid type for 'input': expected a string or an array.", "input", "invalid_type")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise BadRequest("Invalid type for 'instructions': expected a string.", "instructions", "invalid_type")
    reasoning = body.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, dict):
        raise BadRequest("Invalid type for 'reasoning': expected an object.", "reasoning", "invalid_type")
    effort, summary = (reasoning or {}).get("effort"), (reasoning or {}).get("summary")
    for name, value, allowed in (("effort", effort, EFFORTS), ("summary", summary, SUMMARIES)):
        if value is not None and value not in allowed:
            message = f"Invalid value for 'reasoning.{name}': {value!r}; supported: {', '.join(allowed)}."
            raise BadRequest(message, f"reasoning.{name}")
    cap = body.get("max_output_tokens")
    _flag(body, "store")
    return Prompt(
        last_user=next((text for role, text in reversed(texts) if role == "user"), ""),
        prompt_tokens=_tokens_of(texts) + (len(instructions.split()) + 4 if instructions else 0),
        cap=None if cap is None else _count(cap, "max_output_tokens", MIN_OUTPUT_TOKENS),
        stream=_flag(body, "stream"),
        include_usage=False,
        summary=summary is not None,
        obfuscate=_stream_options(body).get("include_obfuscation") is not False,
    )


def _text(content: Any, param: str) -> str:
    """A message's text: a string, or the text of its parts (`text`, `input_text`, `output_text`)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    raise BadRequest(f"Invalid type for '{param}': expected a string or an array of parts.", param, "invalid_type")


def _stream_options(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise BadRequest("Invalid type for 'stream_options': expected an object.", "stream_options", "invalid_type")
    return options or {}


def _tokens_of(texts: list[tuple[str, str]]) -> int:
    return sum(len(text.split()) + 4 for _, text in texts)


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"Invalid type for '{name}': expected an integer.", name, "invalid_type")
    if value < minimum:
        raise BadRequest(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            name,
            "integer_below_min_value",
        )
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"Invalid type for '{name}': expected a boolean.", name, "invalid_type")
    return bool(value)
