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


# Every error a client can get, by code. Each call makes a fresh exception: raising one shared
# instance again and again would chain its tracebacks (and the frames they hold) without end.


def invalid_request(message: str, field: str | None = None) -> ChatError:
    return ChatError(400, "invalid_request", message, field=field)


def body_too_large(limit: int) -> ChatError:
    return ChatError(413, "body_too_large", f"The request body may be at most {limit} bytes.", field="body")


def unsupported_media_type() -> ChatError:
    # Anything else would be a CORS "simple request" (text/plain fetch, sendBeacon): no preflight,
    # so any page on any origin could make a visitor's browser spend tokens here (issue #12).
    return ChatError(
        415, "unsupported_media_type", "The request body must be JSON, sent as Content-Type: application/json."
    )


def body_timeout(seconds: float) -> ChatError:
    return ChatError(408, "body_timeout", f"The request body did not arrive within {seconds:g} seconds.", field="body")


def too_many_requests(limit: int, retry_after: int) -> ChatError:
    return ChatError(
        429,
        "too_many_requests",
        f"This client may make at most {limit} requests a minute. Try again in {retry_after} s.",
        retry_after=retry_after,
    )


def too_many_streams(limit: int) -> ChatError:
    return ChatError(
        429,
        "too_many_streams",
        f"This client may have at most {limit} requests in progress at once. Try again when one has ended.",
        retry_after=1,
    )


def too_many_tokens(limit: int, retry_after: int) -> ChatError:
    return ChatError(
        429,
        "too_many_tokens",
        f"This client may use at most {limit} tokens a minute, counting each request at its largest "
        f"possible cost until it ends. Try again in {retry_after} s.",
        retry_after=retry_after,
    )


def overloaded() -> ChatError:
    return ChatError(503, "overloaded", "The server is at capacity. Try again shortly.", retry_after=1)


def rate_limited(retry_after: int) -> ChatError:
    return ChatError(429, "rate_limited", "The model is busy. Try again shortly.", retry_after=retry_after)


def prompt_filtered() -> ChatError:
    return ChatError(400, "content_filter", "The prompt was blocked by the content filter.")


def answer_filtered() -> ChatError:
    return ChatError(400, "content_filter", "The answer was stopped by the content filter.")


def upstream_rejected() -> ChatError:
    return ChatError(400, "upstream_rejected", "The model service rejected the request.")


def upstream_misconfigured() -> ChatError:
    return ChatError(
        502,
        "upstream_misconfigured",
        "The app's access to the model service is misconfigured. The failure has been logged.",
    )


def upstream_error(message: str = "The model service failed to answer.") -> ChatError:
    return ChatError(502, "upstream_error", message)


def upstream_unavailable() -> ChatError:
    return ChatError(502, "upstream_unavailable", "The model service could not be reached.")


def upstream_timeout() -> ChatError:
    return ChatError(504, "upstream_timeout", "The model service did not answer in time.")


def upstream_interrupted() -> ChatError:
    return ChatError(502, "upstream_interrupted", "The model's reply was cut off.")


def upstream_incomplete() -> ChatError:
    return ChatError(502, "upstream_incomplete", "The model's reply ended without finishing.")


def internal_error() -> ChatError:
    return ChatError(500, "internal_error", "The server failed to answer. The failure has been logged.")
