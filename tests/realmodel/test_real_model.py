"""A real model behind the app: llama.cpp's OpenAI-compatible server with Gemma 3 270M.

Run by tests/realmodel/run.sh (`make real-model`), which starts that server and sets
REALMODEL_OPENAI_ENDPOINT; skipped otherwise. The simulator speaks the wire format we
expect; this checks the app against a server we did not write.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Host, host_env, start_host, stop

ENDPOINT = os.environ.get("REALMODEL_OPENAI_ENDPOINT", "")
MODEL = os.environ.get("REALMODEL_MODEL", "gemma-3-270m")
QUESTION = "In one short sentence: why is the sky blue?"

pytestmark = pytest.mark.skipif(not ENDPOINT, reason="set REALMODEL_OPENAI_ENDPOINT (tests/realmodel/run.sh does)")


@pytest.fixture(scope="module")
def real_host() -> Iterator[Host]:
    env = host_env(
        None,
        OPENAI_HOST="local",
        LOCAL_OPENAI_ENDPOINT=ENDPOINT,
        LOCAL_OPENAI_MODEL=MODEL,
        CHAT_UPSTREAM_TIMEOUT_SECONDS="120",
    )
    started = start_host(env)
    yield started
    stop(started.process)


def _body() -> dict:
    return {"messages": [{"role": "user", "content": QUESTION}], "sessionState": {"run": "real-model"}}


def _stream(url: str, accept: str | None) -> tuple[list[tuple[float, dict]], float]:
    """(seconds since the request, event) for every event, and when the request was sent."""
    headers = {"Accept": accept} if accept else {}
    events: list[tuple[float, dict]] = []
    sent = time.perf_counter()
    with httpx.Client(timeout=180) as client, client.stream("POST", url, json=_body(), headers=headers) as response:
        assert response.status_code == 200, response.read()
        if accept == "text/event-stream":
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append((time.perf_counter() - sent, json.loads(line[len("data: ") :])))
        else:
            assert response.headers["content-type"].startswith("application/x-ndjson")
            raw = b""
            for chunk in response.iter_raw():
                raw += chunk
                *lines, raw = raw.split(b"\n")
                events += [(time.perf_counter() - sent, json.loads(line)) for line in lines if line.strip()]
            assert raw == b"", "the last line must end with a newline (the JS client drops it otherwise)"
    return events, sent


@pytest.mark.parametrize("accept", [None, "text/event-stream"], ids=["ndjson", "sse"])
def test_stream_delivers_deltas_and_a_final_line(real_host: Host, accept: str | None) -> None:
    events, _ = _stream(f"{real_host.url}/api/chat/stream", accept)
    assert not [e for _, e in events if "error" in e], events
    deltas = [(t, e["delta"]["content"]) for t, e in events if e.get("delta", {}).get("content")]
    assert len(deltas) >= 3, f"expected a streamed answer, got {events}"
    final = events[-1][1]
    assert final["context"]["finish_reason"] in ("stop", "length"), final
    assert final["sessionState"] == {"run": "real-model"}
    text = "".join(d for _, d in deltas)
    assert text.strip()
    # Streamed, not buffered: the deltas arrived over time, not all in one read.
    spread = deltas[-1][0] - deltas[0][0]
    assert spread > 0.01, f"all {len(deltas)} deltas arrived within {spread * 1000:.1f} ms"
    usage = final["context"].get("usage")
    print(
        f"\n[{'sse' if accept else 'ndjson'}] {len(deltas)} deltas, first after {deltas[0][0] * 1000:.0f} ms, "
        f"last after {deltas[-1][0] * 1000:.0f} ms, finish_reason={final['context']['finish_reason']}, "
        f"usage={usage}\n  answer: {text.strip()[:200]!r}"
    )


def test_non_streaming_answer(real_host: Host) -> None:
    started = time.perf_counter()
    response = httpx.post(f"{real_host.url}/api/chat", json=_body(), timeout=180)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"]["role"] == "assistant"
    assert body["message"]["content"].strip()
    assert body["context"]["finish_reason"] in ("stop", "length")
    assert body["sessionState"] == {"run": "real-model"}
    print(
        f"\n[chat] {(time.perf_counter() - started) * 1000:.0f} ms, finish_reason={body['context']['finish_reason']}"
        f"\n  answer: {body['message']['content'].strip()[:200]!r}"
    )
