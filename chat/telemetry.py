"""One structured log record per chat request: what an operator needs to read a slow or failed answer."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, fields
from time import perf_counter

import msgspec

from chat.events import Finish

log = logging.getLogger("chat.requests")
_encode = msgspec.json.Encoder().encode


@dataclass
class RequestRecord:
    streaming: bool
    protocol: str = ""
    upstream_api: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client: str | None = None  # a keyed hash of the client's address (chat.limits.client_id), never the address
    started: float = field(default_factory=perf_counter, repr=False)
    ttft_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reason: str | None = None
    cancelled: bool = False
    error_code: str | None = None

    def first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round((perf_counter() - self.started) * 1000, 2)

    def timings(self) -> dict[str, float | None]:
        self.total_ms = round((perf_counter() - self.started) * 1000, 2)
        return {"ttft_ms": self.ttft_ms, "total_ms": self.total_ms}

    def finish(self, finish: Finish) -> None:
        """Record how the answer ended and what it cost."""
        self.finish_reason = finish.reason
        if finish.usage is not None:
            usage = finish.usage
            self.prompt_tokens, self.completion_tokens = usage.input_tokens, usage.output_tokens
            self.reasoning_tokens = usage.reasoning_tokens

    def emit(self) -> None:
        """Log the record as JSON text (portable to any sink) and as `extra` fields (for OpenTelemetry)."""
        if self.total_ms is None:
            self.timings()
        # Every field is a str, number, bool or None: no deep copy (`asdict`) is needed.
        values = {name: getattr(self, name) for name in _LOGGED}
        level = logging.WARNING if self.error_code and not self.cancelled else logging.INFO
        log.log(level, "chat request %s", _encode(values).decode(), extra={"chat": values})


_LOGGED = tuple(f.name for f in fields(RequestRecord) if f.name != "started")
