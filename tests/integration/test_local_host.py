"""The local host in front of the real worker runtime: start-up, routes, the proxy hop, timeouts, logs.

Most tests run `tests/integration/host_probe_app.py` (copied to a temporary folder with its own
host.json: route prefix `v1`, functionTimeout 3 s), whose routes report what the runtime gave them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import ROOT, Host, free_port, start_host, stop

PROBE = Path(__file__).with_name("host_probe_app.py")


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probe")
    shutil.copy(PROBE, folder / "probe_app.py")
    (folder / "host.json").write_text(
        json.dumps({"version": "2.0", "functionTimeout": "00:00:03", "extensions": {"http": {"routePrefix": "v1"}}})
    )
    return folder


@pytest.fixture(scope="module")
def probe(probe_dir: Path) -> Iterator[Host]:
    env = {**os.environ, "PYTHONPATH": f"{probe_dir}{os.pathsep}{ROOT}", "PROBE_MARKS": str(probe_dir)}
    host = start_host(env, "--app", "probe_app")
    yield host
    stop(host.process)


def _wait_for(predicate, what: str, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)
    return found


def _port_and_settings(folder: Path) -> list[str]:
    return ["--port", str(free_port()), "--settings", str(folder / "none.json")]


def test_host_refuses_an_app_the_worker_would_fail_to_index(tmp_path):
    (tmp_path / "broken_app.py").write_text(
        textwrap.dedent(
            """
            import azure.functions as func
            import azurefunctions.extensions.http.fastapi  # noqa: F401 - switches the worker to HTTP streaming

            app = func.FunctionApp()

            @app.route(route="old")
            def old(req: func.HttpRequest) -> func.HttpResponse:
                return func.HttpResponse("classic")
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "dev.host", "--app", "broken_app", *_port_and_settings(tmp_path)],
        cwd=ROOT,
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    # The host's line, then the runtime's own exception (FunctionLoadError from azure_functions_runtime).
    assert "Initializing worker process failed" in run.stderr
    assert (
        "Exception: FunctionLoadError: cannot load the old function: binding type \"'req'\" and dataType "
        '"httpTrigger" in the binding decorator do not match the corresponding function parameter\'s Python '
        "type annotation HttpRequest"
    ) in run.stderr
    assert "ready on" not in run.stdout


def test_cors_preflight_follows_host_cors(host: Host, client):
    allowed = client.options(
        f"{host.url}/api/chat/stream",
        headers={
            "Origin": "http://localhost:4280",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:4280"
    refused = client.options(
        f"{host.url}/api/chat/stream",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers


def test_route_prefix_comes_from_host_json(host: Host, probe: Host, client):
    assert client.post(f"{host.url}/chat", json={}).status_code == 404
    assert client.post(f"{host.url}/api/chat", json={}).status_code == 400
    assert client.get(f"{probe.url}/v1/any").status_code == 200
    assert client.get(f"{probe.url}/api/any").status_code == 404


def test_route_templates_constraints_and_methods(probe: Host, client):
    seen = client.get(f"{probe.url}/v1/Echo/12/a/b%20c").json()
    assert seen["path_params"] == {"id": "12", "rest": "a/b c"}
    assert client.get(f"{probe.url}/v1/echo/12").json()["path_params"] == {"id": "12"}  # catch-all may be empty
    for miss in (
        client.get(f"{probe.url}/v1/echo/twelve/a"),  # {id:int}
        client.get(f"{probe.url}/v1/echo/99999999999/a"),  # out of int32
        client.post(f"{probe.url}/v1/echo/12/a"),  # methods=["GET"]: another method is no route
        client.get(f"{probe.url}/v1/nothing-here"),
    ):
        assert (miss.status_code, miss.content) == (404, b"")
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):  # no methods: every method
        assert client.request(method, f"{probe.url}/v1/any").json() == {"method": method}


def test_the_hop_sets_the_invocation_id_and_forwarded_headers(probe: Host, client):
    forged = str(uuid.uuid4())
    seen = client.get(
        f"{probe.url}/v1/echo/1/x",
        headers={"x-ms-invocation-id": forged, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example"},
    ).json()
    headers = seen["headers"]
    invocation_id = headers["x-ms-invocation-id"]
    assert invocation_id != forged and str(uuid.UUID(invocation_id)) == invocation_id
    reason = "This function was programmatically called via the host APIs."
    assert probe.logged(f"Executing 'Functions.echo' (Reason='{reason}', Id={invocation_id})")
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == httpx.URL(probe.url).netloc.decode()
    # YARP's default: the worker sees its own address as Host; the client's is in X-Forwarded-Host.
    assert headers["host"] != headers["x-forwarded-host"]
    assert seen["loop"].startswith("uvloop")


def test_sync_functions_run_in_the_runtime_thread_pool(probe: Host, client):
    assert client.get(f"{probe.url}/v1/sync").json()["thread"].startswith("ThreadPoolExecutor")


def test_logs_are_shaped_like_the_host(probe: Host, client):
    assert client.get(f"{probe.url}/v1/any").status_code == 200
    failed = client.get(f"{probe.url}/v1/fails")
    assert failed.status_code == 500
    log = _wait_for(lambda: "Exception while executing function: Functions.fails." in probe.log and probe.log, "log")
    assert re.search(r"Executed 'Functions.any_method' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)", log)
    assert re.search(r"Executed 'Functions.fails' \(Failed, Id=[0-9a-f-]{36}, Duration=\d+ms\)", log)
    assert "RuntimeError: the probe failed on purpose" in log


def test_a_client_that_leaves_closes_the_function_stream(probe: Host, probe_dir: Path):
    name = uuid.uuid4().hex
    with httpx.Client(timeout=10) as client, client.stream("GET", f"{probe.url}/v1/ticks/{name}") as response:
        assert next(response.iter_lines()) == "tick"
    _wait_for(lambda: (probe_dir / f"{name}.closed").exists(), "the function's stream closed after the client left")
    _wait_for(lambda: "The client disconnected while the function was processing the request." in probe.log, "log")


def test_function_timeout_covers_the_whole_stream(probe: Host, probe_dir: Path):
    """host.json functionTimeout 3 s: a stream still going then is cut (not ended cleanly) and fails."""
    name = uuid.uuid4().hex
    lines: list[str] = []
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", f"{probe.url}/v1/ticks/{name}") as response,
        pytest.raises(httpx.RemoteProtocolError),  # cut: the chunked body never gets its last chunk
    ):
        lines.extend(response.iter_lines())
    assert lines.count("tick") > 1
    _wait_for(lambda: (probe_dir / f"{name}.closed").exists(), "the worker saw the hop close")
    timeout = r"Timeout value of 00:00:03 exceeded by function 'Functions.ticks' \(Id: '[0-9a-f-]{36}'\)"
    _wait_for(lambda: re.search(timeout, probe.log), "the host's timeout line")
    _wait_for(lambda: re.search(r"Executed 'Functions.ticks' \(Failed, Id=[0-9a-f-]{36}", probe.log), "Failed")
