"""The local host behaves like the worker behind the Functions host: indexing, routes, CORS."""

import subprocess
import sys
import textwrap

from tests.harness import ROOT, Host, free_port


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
        [
            sys.executable,
            "-m",
            "dev.host",
            "--app",
            "broken_app",
            "--port",
            str(free_port()),
            "--settings",
            str(tmp_path / "none.json"),
        ],
        cwd=ROOT,
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "Worker failed to index functions" in run.stderr
    assert 'does not match its Python annotation "HttpRequest"' in run.stderr


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


def test_route_prefix_comes_from_host_json(host: Host, client):
    assert client.post(f"{host.url}/chat", json={}).status_code == 404
    assert client.post(f"{host.url}/api/chat", json={}).status_code == 400
