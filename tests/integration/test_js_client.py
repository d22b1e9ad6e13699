"""The reference JS client, `@microsoft/ai-chat-protocol`, works against both endpoints unchanged."""

import json
import shutil
import subprocess

import pytest

from tests.harness import ROOT, Host, Simulator

JS = ROOT / "tests" / "js"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_reference_js_client(host: Host, simulator: Simulator):
    if not (JS / "node_modules" / "@microsoft" / "ai-chat-protocol").exists():
        pytest.fail("run `make js-deps` (npm ci in tests/js) first")
    marker = simulator.rule(reply="Hello from the 🚀 simulator, 你好!")
    run = subprocess.run(
        ["node", "client.mjs", f"{host.url}/api/chat", f"hi {marker}"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["completion"]["message"] == {"role": "assistant", "content": "Hello from the 🚀 simulator, 你好!"}
    assert result["completion"]["sessionState"] == {"turn": 1}
    deltas = result["deltas"]
    text = "".join(d["delta"].get("content", "") for d in deltas)
    assert text == "Hello from the 🚀 simulator, 你好!"
    assert deltas[0]["context"]["progress"] and deltas[0]["sessionState"] == {"turn": 2}
    assert deltas[-1]["context"]["finish_reason"] == "stop"
    assert result["badRequest"]["code"] == "invalid_request"  # the error object is thrown as-is
