"""One structured log record per chat request: what an operator needs to read a slow or failed answer."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from chat.upstream import Usage

log = logging.getLogger("chat.requests")


@dataclass
class RequestRecord:
    streaming: bool
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=perf_counter, repr=False)
    ttft_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    cancelled: bool = False
    error_code: str | None = None

    def first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round((perf_counter() - self.started) * 1000, 2)

    def timings(self) -> dict[str, float | None]:
        self.total_ms = round((perf_counter() - self.started) * 1000, 2)
        return {"ttft_ms": self.ttft_ms, "total_ms": self.total_ms}

    def finish(self, finish_reason: str | None, usage: Usage | None) -> dict[str, Any]:
        """Record how the answer ended and return the protocol's closing `context`, for both endpoints."""
        self.finish_reason = finish_reason
        context: dict[str, Any] = {"requestId": self.request_id, "finish_reason": finish_reason}
        if usage is not None:
            self.prompt_tokens, self.completion_tokens = usage.prompt_tokens, usage.completion_tokens
            context["usage"] = msgspec.structs.asdict(usage)
        context["timings"] = self.timings()
        return context

    def emit(self) -> None:
        """Log the record as JSON text (portable to any sink) and as `extra` fields (for OpenTelemetry)."""
        if self.total_ms is None:
            self.timings()
        fields: dict[str, Any] = {k: v for k, v in asdict(self).items() if k != "started"}
        level = logging.WARNING if self.error_code and not self.cancelled else logging.INFO
        log.log(level, "chat request %s", json.dumps(fields), extra={"chat": fields})
