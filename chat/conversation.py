"""The validated request every protocol parses into: the conversation, and the limits it must keep.

Each protocol reads its own body shape; all of them end here, so the limits on what a client
may send upstream are checked once, in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from chat.errors import invalid_request
from chat.settings import Settings

Role = Literal["system", "user", "assistant"]
ROLES: frozenset[str] = frozenset(("system", "user", "assistant"))


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Conversation:
    messages: tuple[Message, ...]

    @classmethod
    def checked(cls, messages: Iterable[Message], settings: Settings, field: str = "messages") -> Conversation:
        """The messages, if they keep the limits; a 400 naming the limit otherwise."""
        kept: list[Message] = []
        size = 0
        for message in messages:  # a generator: a huge body stops being read at the first limit
            if len(kept) == settings.max_messages:
                raise invalid_request(f"'{field}' may hold at most {settings.max_messages} messages.", field=field)
            # UTF-8 bytes, not characters: no tokenizer makes more tokens than bytes, while 100,000
            # characters ran from 22,000 to 298,000 tokens (issue #12).
            size += len(message.content.encode())
            if size > settings.max_input_bytes:
                raise invalid_request(
                    f"The messages' contents may hold at most {settings.max_input_bytes} bytes in all, "
                    "counted as UTF-8 (CHAT_MAX_INPUT_BYTES).",
                    field=field,
                )
            kept.append(message)
        if not kept:
            raise invalid_request(f"'{field}' must not be empty.", field=field)
        return cls(tuple(kept))

    def forwarded(self, settings: Settings) -> list[Message]:
        """The messages sent upstream: client `system` messages only when the operator allows them."""
        if settings.client_system_messages == "allow":
            return list(self.messages)
        return [m for m in self.messages if m.role != "system"]

    def token_bound(self, settings: Settings) -> int:
        """The most tokens this conversation can cost upstream: its input, counted in bytes, and the output cap."""
        forwarded = self.forwarded(settings)
        size = sum(len(m.content.encode()) for m in forwarded)
        return settings.input_token_bound(size, len(forwarded)) + settings.max_output_tokens
