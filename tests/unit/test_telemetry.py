"""The request records: logged in batches, every record once, at WARNING when a batch holds a failure."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from chat import telemetry
from chat.telemetry import BATCH_RECORDS, RequestRecord


@pytest.fixture(autouse=True)
def empty_batch(caplog: pytest.LogCaptureFixture) -> None:
    """Start from no waiting records: other tests' records wait for their loop's flush, which may never come."""
    telemetry._batch.flush()
    caplog.clear()


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[int, list[dict[str, object]]]]:
    prefix = "chat requests "
    return [
        (r.levelno, json.loads(r.getMessage()[len(prefix) :]))
        for r in caplog.records
        if r.name == "chat.requests" and r.getMessage().startswith(prefix)
    ]


def test_records_ended_together_share_one_line_after_the_flush(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "chat.requests")

    async def serve() -> list[tuple[int, list[dict[str, object]]]]:
        for n in range(3):
            RequestRecord(streaming=True, request_id=f"r{n}").emit()
        before = logged(caplog)
        await asyncio.sleep(telemetry.FLUSH_SECONDS + 0.5)
        assert before == []  # nothing is logged per request
        return logged(caplog)

    lines = asyncio.run(serve())
    assert [(level, [r["request_id"] for r in records]) for level, records in lines] == [
        (logging.INFO, ["r0", "r1", "r2"])
    ]


def test_a_full_batch_is_logged_at_once_and_a_failure_raises_its_level(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "chat.requests")

    async def serve() -> None:
        for n in range(BATCH_RECORDS):
            record = RequestRecord(streaming=False, request_id=f"r{n}")
            record.error_code = "upstream_error" if n == 5 else None
            record.emit()
        cancelled = RequestRecord(streaming=True, request_id="left")
        cancelled.cancelled, cancelled.error_code = True, "upstream_interrupted"
        cancelled.emit()
        telemetry._batch.flush()

    asyncio.run(serve())
    (full_level, full), (rest_level, rest) = logged(caplog)
    assert full_level == logging.WARNING and [r["request_id"] for r in full] == [f"r{n}" for n in range(BATCH_RECORDS)]
    assert rest_level == logging.INFO and [r["request_id"] for r in rest] == ["left"]  # a client leaving is no failure


def test_without_an_event_loop_a_record_is_logged_at_once(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "chat.requests")
    RequestRecord(streaming=False, request_id="script").emit()
    [(level, [record])] = logged(caplog)
    assert level == logging.INFO and record["request_id"] == "script" and "started" not in record
