"""Frees what the worker runtime keeps of each finished HTTP invocation (it never does itself).

azure-functions-runtime 1.3.0 pairs the host's invocation with the proxied HTTP request in
`http_v2.HttpCoordinator`, one record per invocation id, and never deletes a record: its "pop"
methods only set the request and response to None. That is about 2 KB per request for the life
of the instance (docs/deploy.md has the figures; tests/integration/test_coordinator_leak.py
measures them). This swaps the coordinator's dict for one that, as it grows, drops the records
whose request and response were both handed over and taken: the runtime never reads those again.
The runtime's files are not changed; on any other worker (no such coordinator) this does nothing.
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
