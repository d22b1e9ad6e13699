"""What the relay carries: protocol-neutral events, decoded from any upstream API, encoded per protocol.

Upstream decoders (`chat.upstream.*`) yield these; the relay adds the progress phases; one encoder
per protocol (`chat.protocols.*`) turns each into bytes. No event knows a wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Phase = Literal["accepted", "thinking", "answering"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one answer; reasoning tokens are part of the output tokens, as upstream counts them."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Text:
    """A fragment of the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class Reasoning:
    """A fragment of the model's reasoning summary: shown apart from the answer, never mixed into it."""

    text: str


@dataclass(frozen=True, slots=True)
class Progress:
    phase: Phase


@dataclass(frozen=True, slots=True)
class Finish:
    """The upstream's last word: why the answer ended, and what it cost."""

    reason: str
    usage: Usage | None = None


Event = Text | Reasoning | Progress | Finish

THINKING = Progress("thinking")
ANSWERING = Progress("answering")


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer, for the non-streaming endpoints: the same events, gathered."""

    text: str
    reasoning: str
    finish: Finish
