"""Every failure a client can see, as one exception type with a status, a code and a safe message.

Nothing here carries exception text from elsewhere: messages are written for clients, so no
traceback, upstream URL or key can leak through them.
"""

from __future__ import annotations

from typing import Any


class ChatError(Exception):
    """A failure with the HTTP status and the `{"error": {...}}` body the client gets."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class ConfigurationError(ChatError):
    """The app's own settings are missing or malformed: the operator's fault, not the client's."""

    def __init__(self, message: str) -> None:
        super().__init__(500, "not_configured", message)


def invalid_request(message: str, field: str | None = None) -> ChatError:
    return ChatError(400, "invalid_request", message, field=field)


INTERNAL_ERROR = ChatError(500, "internal_error", "The server failed to answer. The failure has been logged.")
