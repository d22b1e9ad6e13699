"""Two corrections to how the Python worker serves the app; on any other server each does nothing.

The runtime never frees what it keeps of a finished HTTP invocation. azure-functions-runtime 1.3.0
pairs the host's invocation with the proxied HTTP request in `http_v2.HttpCoordinator`, one record
per invocation id, and never deletes a record: its "pop" methods only set the request and response
to None. That is about 2 KB per request for the life
of the instance (docs/deploy.md has the figures; tests/integration/test_coordinator_leak.py
measures them). This swaps the coordinator's dict for one that, as it grows, drops the records
whose request and response were both handed over and taken: the runtime never reads those again.
The runtime's files are not changed.

The streaming extension runs uvicorn with its defaults, so uvicorn formats an access line and
writes it to the worker's stdout for every request (about 6 % of the samples of a request in
py-spy; `python -m benchmarks.compare` has the figure, issue #14), which the host then reads and
logs again. The host already records every invocation itself, and the app logs its own request
record (chat/telemetry.py). The extension makes its `uvicorn.Config` only when it
starts serving, after the app is imported, and that config's `dictConfig` resets the access
logger's level and handlers; a filter is all that survives it. So the filter turns the logger off.
"""

from __future__ import annotations

import logging
import sys
from typing import Any


def _finished(record: Any) -> bool:
    return (
        record.http_request_available_event.is_set()
        and record.http_response_available_event.is_set()
        and record.http_request is None
        and record.http_response is None
    )


class _PrunedRecords(dict[str, Any]):
    """Drops finished records when it has doubled since the last sweep: amortised O(1) per request."""

    _sweep_at = 64

    def __setitem__(self, key: str, value: Any) -> None:
        if len(self) >= self._sweep_at:
            for finished in [k for k, record in self.items() if _finished(record)]:
                del self[finished]
            self._sweep_at = max(64, 2 * len(self))
        super().__setitem__(key, value)


def release_finished_http_invocations() -> bool:
    """Install the pruning once; True when the runtime's coordinator was found and is now pruned."""
    http_v2 = sys.modules.get("azure_functions_runtime.http_v2")
    coordinator = getattr(http_v2, "http_coordinator", None)
    records = getattr(coordinator, "_context_references", None)
    if isinstance(records, _PrunedRecords):
        return True
    if type(records) is not dict:
        if http_v2 is not None:
            logging.warning("azure_functions_runtime.http_v2 has no coordinator records to prune; left as it is")
        return False
    coordinator._context_references = _PrunedRecords(records)  # type: ignore[union-attr]
    return True


ACCESS_LOGGER = "uvicorn.access"


class _AccessLogOff(logging.Filter):
    """Drops uvicorn's access records and leaves its logger without handlers.

    uvicorn asks `hasHandlers()` once per connection, so from the next connection on it makes no
    access record at all; this filter only sees the records of connections already open.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        logger = logging.getLogger(ACCESS_LOGGER)
        logger.handlers.clear()
        logger.propagate = False
        return False


def turn_off_access_log() -> None:
    """Install the filter once, before the extension configures uvicorn's logging."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, _AccessLogOff) for f in logger.filters):
        logger.addFilter(_AccessLogOff())
