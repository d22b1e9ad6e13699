"""The clients front ends use, unchanged, over real HTTP: the Vercel AI SDK and ndjson-readablestream.

The AI SDK runs twice: `ai` 6.x (the newest that runs on Node 20) and `ai` 5.0.0 (as `ai-sdk-5`),
whose strict part schemas reject any key they do not list, so a stray key fails that run.
The same upstream answer also goes through the reference AI Chat Protocol client.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.harness import ROOT, Host, Simulator

JS = ROOT / "tests" / "js"
SDKS = {"ai": "6.0.325", "ai-sdk-5": "5.0.0"}  # as pinned in tests/js/package.json
# Emoji with modifiers and joiners, CJK, and combining accents: split anywhere, they must rejoin exactly.
TEXT = "Grüße 👋🏽 from 東京: nai\u0308ve cafe\u0301, 👨\u200d👩\u200d👧 and 日本語のテキスト — done."
REASONING = "The user greets me in several scripts; answer in kind, keeping every character intact."

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


def node(*args: str) -> dict[str, Any]:
    if not (JS / "node_modules" / "ai").exists():
        pytest.fail("run `make js-deps` (npm ci in tests/js) first")
    run = subprocess.run(["node", *args], cwd=JS, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def parts_of(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [part for part in message["parts"] if part["type"] == kind]


def reasoning_of(simulator: Simulator, marker: str) -> str:
    """What the client should see of REASONING: Azure streams no reasoning text on Chat Completions."""
    return REASONING if simulator.records(marker)[0]["api"] == "responses" else ""


@pytest.mark.parametrize("sdk", SDKS)
def test_ai_sdk_builds_one_text_part_and_one_reasoning_part(host: Host, simulator: Simulator, sdk: str):
    marker = simulator.rule(reply=TEXT, reasoning=REASONING)
    seen = node("ui-chat.mjs", sdk, f"{host.url}/api/ui/chat", f"hello {marker}")
    assert seen["version"] == SDKS[sdk]
    assert seen["errors"] == [] and "chunkError" not in seen  # every part passed the SDK's own schema
    message = seen["message"]
    assert [(p["text"], p["state"]) for p in parts_of(message, "text")] == [(TEXT, "done")]
    if reasoning_of(simulator, marker):
        assert [(p["text"], p["state"]) for p in parts_of(message, "reasoning")] == [(REASONING, "done")]
        assert [p["type"] for p in message["parts"]] == ["reasoning", "text"]  # progress parts are transient
    else:
        assert [p["type"] for p in message["parts"]] == ["text"]
    assert seen["snapshots"] > 2  # the message grew part by part, not at the end
    metadata = message["metadata"]
    assert metadata["requestId"] == seen["headers"]["x-request-id"]
    assert metadata["finishReason"] == "stop"
    upstream_usage = simulator.record(marker)["usage"]
    assert metadata["usage"]["outputTokens"] == upstream_usage.get(
        "output_tokens", upstream_usage.get("completion_tokens")
    )
    phases = [c["data"]["phase"] for c in seen["chunks"] if c["type"] == "data-progress"]
    assert phases == (["thinking", "answering"] if reasoning_of(simulator, marker) else ["answering"])
    assert seen["headers"]["x-vercel-ai-ui-message-stream"] == "v1"
    assert seen["raw"].endswith("data: [DONE]\n\n")


def test_ai_sdk_reads_through_heartbeats(host: Host, simulator: Simulator):
    """The strict 5.0 parser meets SSE comments: the model thinks for 2.5 s, heartbeats every 1 s."""
    marker = simulator.rule(reply="after a pause", think_ms=2500)
    seen = node("ui-chat.mjs", "ai-sdk-5", f"{host.url}/api/ui/chat", marker)
    assert seen["raw"].count(": keep-alive\n\n") >= 2
    assert seen["errors"] == []
    assert [p["text"] for p in parts_of(seen["message"], "text")] == ["after a pause"]


@pytest.mark.parametrize("sdk", SDKS)
def test_ai_sdk_error_callback_gets_the_safe_message_and_keeps_the_text(host: Host, simulator: Simulator, sdk: str):
    marker = simulator.rule(reply="red fox ran far", fault="cut", fault_after=2)
    seen = node("ui-chat.mjs", sdk, f"{host.url}/api/ui/chat", marker)
    assert seen["errors"] == ["The model's reply was cut off."]
    assert [(p["text"], p["state"]) for p in parts_of(seen["message"], "text")] == [("red fox", "done")]


@pytest.mark.parametrize("sdk", SDKS)
def test_ai_sdk_transport_throws_the_error_body_before_the_stream(host: Host, simulator: Simulator, sdk: str):
    marker = simulator.rule(fault="500", retry_after=0.05)
    seen = node("ui-chat.mjs", sdk, f"{host.url}/api/ui/chat", marker)
    assert seen["status"] == 502
    assert json.loads(seen["requestError"]) == {
        "error": {"code": "upstream_error", "message": "The model service failed to answer."}
    }


def test_ndjson_readablestream_reads_text_reasoning_and_the_last_line(host: Host, simulator: Simulator):
    marker = simulator.rule(reply=TEXT, reasoning=REASONING)
    seen = node("responses.mjs", f"{host.url}/api/responses", f"hello {marker}")
    assert seen["contentType"].startswith("application/x-ndjson")
    assert (seen["answer"], seen["reasoning"]) == (TEXT, reasoning_of(simulator, marker))
    first, last = seen["chunks"][0], seen["chunks"][-1]
    assert first["type"] == "response.context" and first["context"]["progress"] == "accepted"
    assert last["type"] == "response.completed" and last["context"]["finish_reason"] == "stop"
    assert "error" not in seen


def test_ndjson_readablestream_sees_the_error_line(host: Host, simulator: Simulator):
    marker = simulator.rule(reply="red fox ran far", fault="error_event", fault_after=2)
    seen = node("responses.mjs", f"{host.url}/api/responses", marker)
    assert seen["answer"] == "red fox"
    assert seen["error"] == {"code": "upstream_error", "message": "The model service failed while answering."}
    assert seen["chunks"][-1]["type"] == "error"


def test_three_clients_get_the_same_answer_from_the_same_upstream_answer(host: Host, simulator: Simulator):
    marker = simulator.rule(reply=TEXT, reasoning=REASONING)
    ui = node("ui-chat.mjs", "ai", f"{host.url}/api/ui/chat", f"hi {marker}")["message"]
    ndjson = node("responses.mjs", f"{host.url}/api/responses", f"hi {marker}")
    ai_chat = node("client.mjs", f"{host.url}/api/chat", f"hi {marker}")
    deltas = [d["delta"] for d in ai_chat["deltas"]]
    ai_chat_text = "".join(d.get("content", "") for d in deltas)
    ai_chat_reasoning = "".join(d.get("context", {}).get("reasoning", "") for d in deltas)
    ui_reasoning = "".join(p["text"] for p in parts_of(ui, "reasoning"))
    assert parts_of(ui, "text")[0]["text"] == ndjson["answer"] == ai_chat_text == TEXT
    assert ui_reasoning == ndjson["reasoning"] == ai_chat_reasoning == reasoning_of(simulator, marker)
    assert len(simulator.records(marker)) == 4  # client.mjs asks twice: whole, then streamed
