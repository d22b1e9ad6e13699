"""Reasoning models through both upstream APIs: what is sent upstream, and what the client sees
(the summary apart from the answer, the phases in order, keep-alives through long thinking)."""

import httpx
import pytest

from tests.harness import Host, Simulator, host_env, joined_content, ndjson_events, start_host, stop, user

SUMMARY = "**Weighing** the question 🤔 — 日本語 too.\n\n**Checking** it twice."  # two summary parts
ANSWER = "Here is the answer: naïve café 🚀."


def test_every_call_sends_the_reasoning_model_options(host: Host, simulator: Simulator, client):
    marker = simulator.rule(reply="ok")
    assert client.post(f"{host.url}/api/chat/stream", json=user(marker)).status_code == 200
    record = simulator.record(marker)
    body = record["body"]
    assert "temperature" not in body and "max_tokens" not in body
    assert body["store"] is False
    if record["api"] == "responses":
        assert record["path"] == "/openai/v1/responses"
        assert body["max_output_tokens"] == 4096
        assert body["reasoning"] == {"effort": "low", "summary": "auto"}
    else:
        assert record["path"] == "/openai/v1/chat/completions"
        assert body["max_completion_tokens"] == 4096
        assert body["reasoning_effort"] == "low"


def test_the_summary_streams_apart_from_the_answer_with_the_phases_in_order(host: Host, simulator: Simulator, client):
    marker = simulator.rule(reasoning=SUMMARY, reply=ANSWER, reasoning_tokens=40)
    events = ndjson_events(client.post(f"{host.url}/api/chat/stream", json=user(marker)).text)
    assert joined_content(events) == ANSWER
    phases = [e["context"]["progress"] for e in events if "progress" in e.get("context", {})]
    reasoning = "".join(e["delta"].get("context", {}).get("reasoning", "") for e in events)
    usage = events[-1]["context"]["usage"]
    assert usage["reasoning_tokens"] == 40
    if simulator.record(marker)["api"] == "responses":
        assert reasoning == SUMMARY
        assert phases == ["accepted", "thinking", "answering"]
        first_answer = next(i for i, e in enumerate(events) if e["delta"].get("content"))
        last_reasoning = max(i for i, e in enumerate(events) if e["delta"].get("context", {}).get("reasoning"))
        assert last_reasoning < first_answer
    else:  # Azure never streams reasoning text on Chat Completions
        assert reasoning == ""
        assert phases == ["accepted", "answering"]


def test_the_whole_answer_carries_the_whole_summary(host: Host, simulator: Simulator, client):
    marker = simulator.rule(reasoning=SUMMARY, reply=ANSWER)
    body = client.post(f"{host.url}/api/chat", json=user(marker)).json()
    assert body["message"] == {"role": "assistant", "content": ANSWER}
    expected = SUMMARY if simulator.record(marker)["api"] == "responses" else None
    assert body["context"].get("reasoning") == expected


def test_keep_alives_flow_while_the_model_thinks(host: Host, simulator: Simulator):
    marker = simulator.rule(think_ms=2600, reply="done")  # CHAT_HEARTBEAT_SECONDS is 1 in the tests
    with httpx.Client(timeout=30) as client:
        text = client.post(f"{host.url}/api/chat/stream", json=user(marker)).text
    lines = text.split("\n")
    accepted = next(i for i, line in enumerate(lines) if '"accepted"' in line)
    answering = next(i for i, line in enumerate(lines) if '"answering"' in line)
    assert lines[accepted + 1 : answering].count("") >= 2  # bare-newline keep-alives between the two


def test_the_output_cap_ends_the_answer_as_length(simulator: Simulator):
    host = start_host(host_env(simulator, CHAT_MAX_OUTPUT_TOKENS="20"))
    try:
        marker = simulator.rule(tokens=60)
        events = ndjson_events(httpx.post(f"{host.url}/api/chat/stream", json=user(marker), timeout=30).text)
        record = simulator.record(marker)
        assert record["body"]["max_output_tokens"] == 20
        assert events[-1]["context"]["finish_reason"] == "length"
        assert len([e for e in events if e["delta"].get("content")]) == record["tokens_sent"] <= 20
    finally:
        stop(host.process)


@pytest.mark.parametrize(("effort", "accepted"), [("none", False), ("minimal", True)])
def test_an_effort_the_model_refuses_is_a_clear_configuration_error(simulator: Simulator, effort, accepted):
    env = host_env(simulator, AZURE_OPENAI_CHAT_MODEL="gpt-5-mini", CHAT_REASONING_EFFORT=effort)
    host = start_host(env)
    try:
        response = httpx.post(f"{host.url}/api/chat", json=user("hi"), timeout=30)
        if accepted:
            assert response.status_code == 200
        else:
            assert response.status_code == 500
            assert response.json()["error"]["code"] == "not_configured"
            assert "CHAT_REASONING_EFFORT=none" in response.json()["error"]["message"]
            assert "not accepted by gpt-5-mini" in host.log
    finally:
        stop(host.process)
