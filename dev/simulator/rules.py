"""Rules that tests set, and the plan of one answer drawn from a rule and what the request asked for."""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, fields

HTTP_FAULTS = frozenset({"429", "500", "503", "401", "403", "404"})
# Faults that end the answer after `fault_after` answer tokens.
ENDING_FAULTS = frozenset({"content_filter", "cut", "error_event", "length", "failed"})
FAULTS = HTTP_FAULTS | ENDING_FAULTS | {"prompt_filter", "stall"}

DEFAULT_TEXT = (
    "Streaming answers arrive token by token, so the reader sees the reply as it is written. "
    "Each delta travels from the model through the function to the browser without waiting. "
    "Café naïve façade — 日本語のテキスト and emoji 🚀✨ travel intact. "
)


def tokenize(text: str) -> list[str]:
    """Split like a tokenizer would, roughly: words with their leading space, long runs in pieces of 4."""
    pieces = re.findall(r"\s*\S+|\s+", text)
    return [p[i : i + 4] for p in pieces for i in range(0, len(p), 4)] or [text]


@functools.lru_cache(maxsize=1024)
def _pieces(text: str) -> tuple[str, ...]:
    """`tokenize`, once per distinct text: benchmarks and load tests send the same replies again and again."""
    return tuple(tokenize(text)) if text else ()


_DEFAULT_PIECES = _pieces(DEFAULT_TEXT)


@functools.lru_cache(maxsize=256)
def default_reply(tokens: int) -> str:
    """A deterministic reply of about `tokens` tokens: the same rule always gets the same text."""
    return "".join(itertools.islice(itertools.cycle(_DEFAULT_PIECES), tokens)).strip()


@dataclass
class Rule:
    match: str = ""
    reply: str | None = None
    tokens: int | None = None
    reasoning: str | None = None
    reasoning_tokens: int | None = None
    refusal: str | None = None
    ttft_ms: float | None = None
    think_ms: float | None = None
    token_ms: float | None = None
    fault: str | None = None
    fault_after: int = 0
    retry_after: float = 1
    stall_ms: float = 0
    times: int | None = None


_NUMBER = (int, float)
_TYPES: dict[str, tuple[type, ...]] = {
    "match": (str,),
    "reply": (str,),
    "tokens": (int,),
    "reasoning": (str,),
    "reasoning_tokens": (int,),
    "refusal": (str,),
    "ttft_ms": _NUMBER,
    "think_ms": _NUMBER,
    "token_ms": _NUMBER,
    "fault": (str,),
    "fault_after": (int,),
    "retry_after": _NUMBER,
    "stall_ms": _NUMBER,
    "times": (int,),
}
_KIND_NAMES = {_NUMBER: "a number", (int,): "an integer", (str,): "a string"}
_REQUIRED = {f.name for f in fields(Rule) if f.default is not None}


def parse_rule(data: object) -> Rule:
    """A rule from `POST /_sim/rules`; a ValueError that names the field when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("a rule is a JSON object")
    unknown = sorted(set(data) - set(_TYPES))
    if unknown:
        raise ValueError(f"unknown rule fields: {', '.join(unknown)}; known: {', '.join(_TYPES)}")
    for name, value in data.items():
        if value is None and name not in _REQUIRED:
            continue
        kinds = _TYPES[name]
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(f"{name} must be {_KIND_NAMES[kinds]}")
        if kinds != (str,) and value < 0:
            raise ValueError(f"{name} must not be negative")
    if data.get("fault") is not None and data["fault"] not in FAULTS:
        raise ValueError(f"unknown fault {data['fault']!r}; known: {', '.join(sorted(FAULTS))}")
    return Rule(**data)


@dataclass(frozen=True)
class Plan:
    """What one answer streams and how it ends, before any byte is sent."""

    reasoning: tuple[tuple[int, str], ...]  # (summary part index, piece) to stream as reasoning
    reasoning_item: bool  # the model reasoned (a reasoning output item on the Responses API)
    reasoning_tokens: int  # reasoning tokens in usage, streamed or not
    answer: tuple[str, ...]  # the answer (or refusal) tokens to stream
    text: str  # the whole answer, had nothing cut it short
    answer_total: int  # its tokens
    refusal: bool
    message: bool  # False when reasoning used up the whole output-token cap: no answer at all
    ending: str  # stop | length | content_filter | error_event | failed | cut
    stall_at: int | None  # answer token before which the stream goes silent for stall_ms


def plan_answer(rule: Rule, *, cap: int | None, show_reasoning: bool, summary_parts: bool) -> Plan:
    """Draw the answer from the rule, then cut it where the rule's fault or the request's token cap says.

    The cap counts reasoning tokens first, as the service does: a cap below the reasoning tokens
    leaves no answer at all (and only as much of the summary as the cap covers).
    """
    refusal = rule.refusal is not None
    text = rule.refusal if rule.refusal is not None else rule.reply
    if text is None:
        text = default_reply(rule.tokens or 1)
    answer = _pieces(text)
    parts = _summary_parts(rule.reasoning or "", split=summary_parts)
    reasoning_tokens = len(parts) if rule.reasoning_tokens is None else rule.reasoning_tokens
    end, ending = len(answer), "stop"
    if rule.fault in ENDING_FAULTS:
        end, ending = min(rule.fault_after, len(answer)), rule.fault
    message = True
    if cap is not None:
        if reasoning_tokens > cap:
            parts = parts[: len(parts) * cap // reasoning_tokens]
            reasoning_tokens = cap
        budget = cap - reasoning_tokens
        if budget < end:
            end, ending = budget, "length"
            message = budget > 0
    return Plan(
        reasoning=parts if show_reasoning else (),
        reasoning_item=bool(reasoning_tokens or parts),
        reasoning_tokens=reasoning_tokens,
        answer=answer[:end],
        text=text,
        answer_total=len(answer),
        refusal=refusal,
        message=message,
        ending=ending,
        stall_at=rule.fault_after if rule.fault == "stall" else None,
    )


def _summary_parts(text: str, *, split: bool) -> tuple[tuple[int, str], ...]:
    """Reasoning pieces with their summary part: a new part at each bold heading, as gpt-5 summaries come."""
    chunks = re.split(r"\n\n(?=\*\*)", text) if split else [text]
    return tuple((index, piece) for index, chunk in enumerate(chunks) for piece in _pieces(chunk))
