"""The runtime's HTTP coordinator keeps a record of every invocation; the app frees finished ones.

azure-functions-runtime 1.3.0 (`http_v2.HttpCoordinator`) never deletes the record it makes per
invocation id. Measured here over thousands of real requests through the real runtime: first an
app without the fix (the probe app), where every request leaves its record behind; then
function_app.py, which calls `chat.worker_runtime.release_finished_http_invocations()`, where
the records stay bounded and memory per request is near zero. If a future runtime stops leaking,
the first test fails and says so: then the fix can go.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness import ROOT, Host, _start, free_port, host_env, stop
from tests.integration.test_local_host import PROBE

WARM_UP = 100
REQUESTS = int(os.environ.get("COORDINATOR_LEAK_REQUESTS", "1000"))  # more for a longer measurement
STATS = re.compile(r"coordinator-stats records=(\d+) traced=(\d+)")


@dataclass(frozen=True)
class Held:
    records: int
    traced: int


def _start_stats_host(env: dict[str, str], *args: str) -> Host:
    port = free_port()
    settings = str(ROOT / "tests" / "local.settings.test.json")
    process, url = _start(
        ["-m", "tests.integration.coordinator_stats_host", "--port", str(port), "--settings", settings, *args], env
    )
    return Host(url, process, env)


def _held(host: Host) -> Held:
    before = len(STATS.findall(host.log))
    host.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while len(found := STATS.findall(host.log)) == before:
        assert time.monotonic() < deadline, "the host never reported its coordinator"
        time.sleep(0.05)
    records, traced = found[-1]
    return Held(int(records), int(traced))


def _growth(host: Host, request: httpx.Request) -> tuple[Held, Held]:
    """What the host holds after a warm-up, and after REQUESTS more of the same request."""
    with httpx.Client(timeout=30) as client:

        def send(count: int) -> None:
            for _ in range(count):
                response = client.send(request)
                assert response.status_code in (200, 400), response.text

        send(WARM_UP)
        first = _held(host)
        send(REQUESTS)
        return first, _held(host)


def _report(name: str, first: Held, last: Held) -> float:
    per_request = (last.traced - first.traced) / REQUESTS
    print(
        f"\n{name}: {REQUESTS} requests: records {first.records} -> {last.records}, "
        f"{per_request:.0f} B per request, {per_request * 1e6 / 2**20:.0f} MiB per million requests"
    )
    return per_request


@pytest.fixture
def probe_host(tmp_path: Path) -> Iterator[Host]:
    (tmp_path / "probe_app.py").write_bytes(PROBE.read_bytes())
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "PROBE_MARKS": str(tmp_path)}
    host = _start_stats_host(env, "--app", "probe_app")
    yield host
    stop(host.process)


@pytest.fixture
def app_host() -> Iterator[Host]:
    host = _start_stats_host(host_env(None))
    yield host
    stop(host.process)


def test_the_pinned_runtime_keeps_a_record_per_request(probe_host: Host):
    first, last = _growth(probe_host, httpx.Request("GET", f"{probe_host.url}/api/any"))
    per_request = _report("runtime alone", first, last)
    assert last.records - first.records == REQUESTS, "every request leaves its record behind"
    assert per_request > 1000


def test_the_app_frees_finished_records(app_host: Host):
    first, last = _growth(app_host, httpx.Request("POST", f"{app_host.url}/api/chat", json={}))
    per_request = _report("function_app.py", first, last)
    assert last.records < 200, "records stay bounded: only the latest, finished or not, are kept"
    assert per_request < 100
