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
        characters = 0
        for message in messages:  # a generator: a huge body stops being read at the first limit
            if len(kept) == settings.max_messages:
                raise invalid_request(f"'{field}' may hold at most {settings.max_messages} messages.", field=field)
            characters += len(message.content)
            if characters > settings.max_characters:
                raise invalid_request(
                    f"The messages may hold at most {settings.max_characters} characters in all.", field=field
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
