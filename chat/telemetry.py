"""One structured record per chat request: what an operator needs to read a slow or failed answer.

Records are logged in batches, `chat requests [{...}, ...]`: one log line per second at most (or per
`BATCH_RECORDS` records), not one per request. On the worker every log line is a message handed to
its gRPC thread for the host, and waking that thread per request cost 0.12 ms of the worker's CPU
per request, a tenth of all of it (`python -m benchmarks.compare`, issue #14). A record therefore
reaches the log up to `FLUSH_SECONDS` after its request ended; the batch is logged at WARNING when
any record in it is a failure, else at INFO.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
from dataclasses import dataclass, field, fields
from random import getrandbits
from time import perf_counter

import msgspec

from chat.events import Finish

log = logging.getLogger("chat.requests")
_encode = msgspec.json.Encoder().encode

FLUSH_SECONDS = 1.0
# A record is about 350 characters: 40 keep a line far below Application Insights' 32,768-character
# limit on a trace's message (https://learn.microsoft.com/azure/azure-monitor/app/data-model-complete#trace).
BATCH_RECORDS = 40


@dataclass(slots=True)
class RequestRecord:
    streaming: bool
    protocol: str = ""
    upstream_api: str = ""
    # A correlation id, not a secret (resume tokens come from `secrets`): `random`, seeded by the OS
    # at start-up, makes one without the syscall per request that uuid4 and os.urandom make.
    request_id: str = field(default_factory=lambda: f"{getrandbits(128):032x}")
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
        _batch.add({name: getattr(self, name) for name in _LOGGED}, failed=bool(self.error_code and not self.cancelled))


_LOGGED = tuple(f.name for f in fields(RequestRecord) if f.name != "started")


class _Batch:
    """The records waiting to be logged, and the timer that logs them."""

    def __init__(self) -> None:
        self._records: list[dict[str, object]] = []
        self._failed = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, values: dict[str, object], *, failed: bool) -> None:
        self._records.append(values)
        self._failed = self._failed or failed
        if len(self._records) >= BATCH_RECORDS:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script, a test): nothing would flush later
            self.flush()
            return
        if self._timer is None or self._loop is not loop:  # a timer on a loop that has stopped never fires
            if self._timer is not None:
                self._timer.cancel()
            self._loop = loop
            self._timer = loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        records, self._records = self._records, []
        if records:
            level = logging.WARNING if self._failed else logging.INFO
            self._failed = False
            log.log(level, "chat requests %s", _encode(records).decode(), extra={"chat": records})


_batch = _Batch()
atexit.register(_batch.flush)  # a worker that stops cleanly logs what is waiting
