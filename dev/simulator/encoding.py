"""What the simulated service says about itself, and the cheap JSON pieces every event is built from."""

from __future__ import annotations

import functools
import json
from typing import Any

# A GA gpt-5 family model (PLATFORM.md, "What changed by late 2026"): what Azure reports in `model`.
MODEL = "gpt-5.4-mini-2026-03-17"

SAFE = {"filtered": False, "severity": "safe"}
FILTER_RESULTS = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}
FILTERED_OUTPUT = {**FILTER_RESULTS, "violence": {"filtered": True, "severity": "medium"}}
FILTERED_PROMPT = {**FILTER_RESULTS, "hate": {"filtered": True, "severity": "high"}}
PROMPT_FILTER_RESULTS = [
    {
        "prompt_index": 0,
        "content_filter_results": {**FILTER_RESULTS, "jailbreak": {"filtered": False, "detected": False}},
    }
]

# The real service pads each event with `obfuscation` so that event sizes do not reveal token lengths:
# about 16 characters minus the delta's length (see the v1 and Responses recordings), unless the
# request sets stream_options.include_obfuscation to false. Indexed by min(len(delta), 16).
_PAD = "kX3vQ9tLm2ZrW7bN"
OBFUSCATION_FIELDS = tuple(f',"obfuscation":"{_PAD[: max(1, 16 - n)]}"' for n in range(17))
NO_OBFUSCATION = ("",) * 17


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@functools.lru_cache(maxsize=8192)
def json_string(text: str) -> str:
    """A token as a JSON string literal; replies repeat their tokens, so each is encoded once."""
    return json.dumps(text, ensure_ascii=False)


def sse(event_type: str, payload: str) -> bytes:
    """One Responses API event: an `event:` line naming the type, then its JSON."""
    return f"event: {event_type}\ndata: {payload}\n\n".encode()
