"""What the client gets when the model service fails: a status and an error object, or an error line."""

import json

import httpx
import pytest

from tests.harness import Host, Simulator, host_env, joined_content, ndjson_events, sse_events, start_host, stop, user

SECRETS = ("sim-key", "Traceback", "127.0.0.1", "openai.", "httpx")


def assert_safe(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked to the client: {text}"


@pytest.mark.parametrize("endpoint", ["/api/chat", "/api/chat/stream"])
def test_rate_limit_is_retried_then_surfaced_as_429_with_retry_after(
    host: Host, simulator: Simulator, client, endpoint
):
    marker = simulator.rule(fault="429", retry_after=0.2)
    response = client.post(f"{host.url}{endpoint}", json=user(marker))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "rate_limited"
    assert len(simulator.records(marker)) == 3  # the first try and CHAT_UPSTREAM_MAX_RETRIES (2) more


def test_retry_after_beyond_the_wait_budget_is_not_waited_for(host: Host, simulator: Simulator, client):
    marker = simulator.rule(fault="429", retry_after=30)
    response = client.post(f"{host.url}/api/chat/stream", json=user(marker))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert len(simulator.records(marker)) == 1


def test_one_rate_limit_then_success_streams_normally(host: Host, simulator: Simulator, client):
    marker = simulator.rule(fault="429", retry_after=0.1, times=1)
    response = client.post(f"{host.url}/api/chat/stream", json=user(marker))
    assert response.status_code == 200
    assert ndjson_events(response.text)[-1]["context"]["finish_reason"] == "stop"
    assert [r["fault"] for r in simulator.records(marker)] == ["429", None]


@pytest.mark.parametrize("endpoint", ["/api/chat", "/api/chat/stream"])
@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("500", 502, "upstream_error"),
        ("503", 502, "upstream_error"),
        ("401", 502, "upstream_misconfigured"),
        ("403", 502, "upstream_misconfigured"),
        ("404", 502, "upstream_misconfigured"),
        ("prompt_filter", 400, "content_filter"),
    ],
)
def test_upstream_errors_before_the_stream_get_a_status(
    host: Host, simulator: Simulator, client, endpoint, fault, status, code
):
    marker = simulator.rule(fault=fault, retry_after=0.05)
    response = client.post(f"{host.url}{endpoint}", json=user(marker))
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert_safe(response.text)


def test_content_filter_mid_stream_keeps_the_text_then_ends_with_an_error_line(
    host: Host, simulator: Simulator, client
):
    marker = simulator.rule(reply="one two six ten red sky", fault="content_filter", fault_after=3)
    events = ndjson_events(client.post(f"{host.url}/api/chat/stream", json=user(marker)).text)
    assert joined_content(events) == "one two six"
    assert events[-1] == {
        "error": {"code": "content_filter", "message": "The answer was stopped by the content filter."}
    }


def test_content_filter_on_the_whole_answer_is_an_error_without_streaming(host: Host, simulator: Simulator, client):
    marker = simulator.rule(fault="content_filter")
    response = client.post(f"{host.url}/api/chat", json=user(marker))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "content_filter"


@pytest.mark.parametrize(("fault", "code"), [("cut", "upstream_interrupted"), ("error_event", "upstream_error")])
def test_upstream_failure_mid_stream_ends_with_an_error_line(host: Host, simulator: Simulator, client, fault, code):
    marker = simulator.rule(reply="red fox ran far", fault=fault, fault_after=2)
    response = client.post(f"{host.url}/api/chat/stream", json=user(marker))
    events = ndjson_events(response.text)
    assert joined_content(events) == "red fox"
    assert events[-1]["error"]["code"] == code
    assert_safe(response.text)


def test_error_lines_are_sse_events_on_sse(host: Host, simulator: Simulator, client):
    marker = simulator.rule(reply="red fox ran", fault="cut", fault_after=1)
    response = client.post(f"{host.url}/api/chat/stream", json=user(marker), headers={"Accept": "text/event-stream"})
    events = sse_events(response.text)
    assert joined_content(events) == "red"
    assert events[-1]["error"]["code"] == "upstream_interrupted"


@pytest.mark.parametrize(
    ("accept", "keep_alive"), [("application/x-ndjson", ""), ("text/event-stream", ": keep-alive")]
)
def test_a_silent_upstream_gets_keep_alives_without_adding_text(host: Host, simulator: Simulator, accept, keep_alive):
    """CHAT_HEARTBEAT_SECONDS is 1 in the test host; the upstream goes silent for 3.5 s mid-answer."""
    marker = simulator.rule(reply="now and then", fault="stall", fault_after=1, stall_ms=3500)
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{host.url}/api/chat/stream", json=user(marker), headers={"Accept": accept}) as response,
    ):
        lines = list(response.iter_lines())
    first_text = next(i for i, line in enumerate(lines) if '"now"' in line)
    second_text = next(i for i, line in enumerate(lines) if '" and"' in line)
    between = lines[first_text + 1 : second_text]
    assert between.count(keep_alive) >= 2 if keep_alive else len([x for x in between if x == ""]) >= 2
    assert all(line in ("", keep_alive) for line in between)
    payload = "\n".join(lines)
    events = sse_events(payload) if keep_alive else [json.loads(line) for line in lines if line]
    assert joined_content(events) == "now and then"


def test_client_going_away_closes_the_upstream(host: Host, simulator: Simulator):
    marker = simulator.rule(tokens=200, token_ms=50)
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{host.url}/api/chat/stream", json=user(marker)) as response,
    ):
        lines = response.iter_lines()
        next(line for line in lines if '"content"' in line)
    # Leaving the block closed our connection mid-answer.
    record = simulator.wait_for(marker, lambda r: r["ended_at"] is not None)
    assert record["closed_early"] is True
    assert not record["finished"]
    assert record["tokens_sent"] < 200


@pytest.fixture(scope="module")
def unreachable_host():
    started = start_host(
        host_env(
            None,
            AZURE_OPENAI_ENDPOINT="http://127.0.0.1:9",
            AZURE_OPENAI_CHAT_DEPLOYMENT="x",
            AZURE_OPENAI_API_KEY="k",
            CHAT_UPSTREAM_MAX_RETRY_WAIT_SECONDS="0",
        )
    )
    yield started
    stop(started.process)


@pytest.mark.parametrize("endpoint", ["/api/chat", "/api/chat/stream"])
def test_unreachable_upstream_is_a_502(unreachable_host: Host, client, endpoint):
    response = client.post(f"{unreachable_host.url}{endpoint}", json=user("hi"))
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert_safe(response.text)


@pytest.fixture(scope="module")
def impatient_host(simulator: Simulator):
    started = start_host(host_env(simulator, CHAT_UPSTREAM_TIMEOUT_SECONDS="0.5"))
    yield started
    stop(started.process)


def test_upstream_timeout_is_a_504(impatient_host: Host, simulator: Simulator, client):
    marker = simulator.rule(ttft_ms=3000)
    response = client.post(f"{impatient_host.url}/api/chat", json=user(marker))
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_an_upstream_silent_past_the_timeout_mid_answer_ends_with_a_timeout_line(
    impatient_host: Host, simulator: Simulator, client
):
    """The timeout bounds each wait for upstream bytes, not the answer: the text so far is kept."""
    marker = simulator.rule(reply="now and then", fault="stall", fault_after=1, stall_ms=3000)
    response = client.post(f"{impatient_host.url}/api/chat/stream", json=user(marker))
    assert response.status_code == 200
    events = ndjson_events(response.text)
    assert joined_content(events) == "now"
    assert events[-1]["error"]["code"] == "upstream_timeout"


def test_a_slow_answer_that_keeps_coming_is_not_timed_out(impatient_host: Host, simulator: Simulator, client):
    """Longer in total than the 0.5 s timeout, but never silent for that long."""
    marker = simulator.rule(tokens=12, token_ms=100)
    response = client.post(f"{impatient_host.url}/api/chat/stream", json=user(marker))
    events = ndjson_events(response.text)
    assert "error" not in events[-1]
    assert len([e for e in events if e.get("delta", {}).get("content")]) == 12


@pytest.fixture(scope="module")
def unconfigured_host():
    started = start_host(host_env(None))
    yield started
    stop(started.process)


@pytest.mark.parametrize("endpoint", ["/api/chat", "/api/chat/stream"])
def test_missing_settings_are_named_in_the_error(unconfigured_host: Host, client, endpoint):
    response = client.post(f"{unconfigured_host.url}{endpoint}", json=user("hi"))
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "not_configured",
        "message": "Missing required settings: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_CHAT_DEPLOYMENT",
    }
    assert "Missing required settings: AZURE_OPENAI_ENDPOINT" in unconfigured_host.log  # said at start-up too
