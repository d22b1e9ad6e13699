"""The page resumes a dropped answer by itself (CHAT_RESUME on): after a real socket reset, after a reload.

The resume GET is held back (`page.route`, then passed on unchanged to the real server) where a
test must see the "Reconnecting…" state before the rest arrives; it never stands in for the server.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dev.host import free_port
from tests.browser.chat_page import (
    announcements,
    answer_text,
    answers,
    last_answer,
    observe,
    open_chat,
    record_announcements,
    seen,
    send,
    sent_messages,
    wait_ended,
    wait_for_text,
)
from tests.browser.conftest import WEB, build_web
from tests.browser.tcp_proxy import DroppingProxy
from tests.browser.test_streaming import HIDDEN_TAB
from tests.harness import ROOT, Host, Simulator, host_env, ndjson_events, start_host, stop

OUTPUT = ROOT / "test-results" / "browser"  # ignored by git: screenshots to look at
STREAM_BUDGET = 32_000  # bytes of one stream's log: the answers here fit, the one that must 404 does not
REPLY = (
    "Resuming keeps every word: the answer goes on where the connection broke. "
    "日本語のテキストも続きます。 Emoji stay whole 🚀✨, accents too: café, naïve. "
    "No word is repeated and none is missing, from the first to this last one."
)
REASONING = "**Planning the reply.** Say it plainly, then list what survives a drop."


@pytest.fixture(scope="module")
def resume_host(sim: Simulator) -> Iterator[Host]:
    build_web()
    env = host_env(
        sim, CHAT_RESUME="memory", CHAT_RESUME_GRACE_SECONDS="60", CHAT_RESUME_MAX_STREAM_BYTES=str(STREAM_BUDGET)
    )
    started = start_host(env, "--web", str(WEB))
    yield started
    stop(started.process)


@pytest.fixture(scope="module")
def unavailable_host(sim: Simulator) -> Iterator[Host]:
    """Resume on, its store unreachable (Redis on a closed port): streams say `"resume":{"available":false}`."""
    build_web()
    env = host_env(sim, CHAT_RESUME="redis", CHAT_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    started = start_host(env, "--web", str(WEB))
    yield started
    stop(started.process)


@pytest.fixture
def proxy(resume_host: Host) -> Iterator[DroppingProxy]:
    started = DroppingProxy(resume_host.url)
    yield started
    started.close()


def is_resume(url: str) -> bool:
    return "/api/chat/stream/" in url and "after=" in url


class HeldResumes:
    """Resume GETs held until `release()`, then sent on to the server as they were."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.routes: list[Any] = []
        self.requests: list[Any] = []
        page.route(is_resume, lambda route: self.routes.append(route))
        page.on("request", lambda r: self.requests.append(r) if is_resume(r.url) else None)

    def release(self) -> None:
        """Send on the resume the page has asked for (waiting for it to be asked, if need be)."""
        while not self.routes:
            self.page.wait_for_timeout(20)  # Playwright hands over routed requests only inside its calls
        for route in self.routes:
            route.continue_()
        self.routes.clear()


def wait_reconnecting(page: Any) -> None:
    page.wait_for_function(
        """() => {
            const item = [...document.querySelectorAll('.message.assistant')].at(-1);
            const line = item?.querySelector('.reconnecting');
            return line && !line.hidden && line.textContent === 'Reconnecting…';
        }"""
    )


def saved(page: Any) -> dict[str, Any] | None:
    return page.evaluate("JSON.parse(sessionStorage.getItem('chat.saved'))")


def growing(states: list[dict[str, Any]]) -> None:
    """The shown text only ever grows: nothing shown twice, nothing taken back."""
    texts = [s["text"] for s in states if s["text"]]
    for before, after in itertools.pairwise(texts):
        assert after.startswith(before), (before, after)


@pytest.mark.parametrize("framing", ["ndjson", "sse"])
def test_socket_reset_mid_answer_resumes_in_the_same_answer(
    page, proxy: DroppingProxy, sim: Simulator, framing: str
) -> None:
    marker = sim.rule(reply=REPLY, reasoning=REASONING, think_ms=200, token_ms=60)
    open_chat(page, proxy.url, f"?framing={framing}")
    held = HeldResumes(page)
    observe(page)
    record_announcements(page)
    send(page, f"Tell me about resuming {marker}")
    wait_for_text(page, 20)
    assert not sim.record(marker)["finished"], "the drop must come before the model's end"

    proxy.drop()  # a real RST on every open connection: the fetch body fails mid-answer
    wait_reconnecting(page)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"resume-reconnecting-{framing}.png"))
    assert 0 < len(answer_text(page)) < len(REPLY)
    page.wait_for_function("() => document.getElementById('announcer').textContent === 'Reconnecting…'")

    held.release()
    assert wait_ended(page) == "done"
    page.wait_for_function("() => document.getElementById('announcer').textContent.startsWith('Answer:')")
    page.screenshot(path=str(OUTPUT / f"resume-finished-{framing}.png"))
    record = sim.record(marker)  # one upstream request: the same generation went on, nothing was asked again
    assert record["finished"] and not record["closed_early"]
    assert answer_text(page) == record["reply"] == REPLY
    item = last_answer(page)
    assert answers(page).count() == 1
    assert item.locator(".reconnecting").is_hidden()
    assert item.locator(".badge-interrupted").count() == 0 and item.locator(".error-note").count() == 0
    assert item.locator(".thinking-label").text_content().startswith("Thought for")
    assert item.locator(".thinking-text").text_content() == REASONING.replace("**", "")

    # The resume asked, in the page's framing, for the events after the last one it had.
    [resume] = held.requests
    assert resume.method == "GET"
    assert resume.headers["accept"] == ("text/event-stream" if framing == "sse" else "application/x-ndjson")
    assert resume.headers["x-resume-token"]
    assert int(resume.url.rsplit("after=", 1)[1]) > 1

    # In order: text, then "Reconnecting…" (the text so far kept), then more text, then the end.
    states = seen(page)
    first_reconnecting = next(i for i, s in enumerate(states) if s["reconnecting"])
    last_reconnecting = max(i for i, s in enumerate(states) if s["reconnecting"])
    assert states[first_reconnecting]["text"]
    assert len(states[-1]["text"]) > len(states[last_reconnecting]["text"])
    assert not states[-1]["reconnecting"]
    growing(states)
    assert announcements(page).count("Reconnecting…") == 1
    assert announcements(page)[-1] == f"Answer: {REPLY}"
    assert saved(page)["stream"] is None
    assert page.page_errors == []


def test_reload_mid_answer_restores_the_chat_and_completes_the_answer(page, resume_host: Host, sim: Simulator) -> None:
    first = sim.rule(reply="A first, finished **answer**.", token_ms=1)
    open_chat(page, resume_host.url)
    send(page, f"First question {first}")
    assert wait_ended(page) == "done"

    marker = sim.rule(reply=REPLY, token_ms=60)
    send(page, f"Second question {marker}")
    wait_for_text(page, 20)
    assert not sim.record(marker)["finished"], "the reload must come before the model's end"
    stored = saved(page)
    assert stored["stream"]["resume"]["url"].startswith("/api/chat/stream/")
    assert [m["role"] for m in stored["history"]] == ["user", "assistant", "user"]

    held = HeldResumes(page)
    page.reload()
    page.wait_for_function("() => document.documentElement.dataset.ready === 'true'")
    wait_reconnecting(page)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "resume-reload-reconnecting.png"))
    assert [m.text_content() for m in page.locator(".message.user .bubble").all()] == [
        f"First question {first}",
        f"Second question {marker}",
    ]
    assert answers(page).count() == 2
    assert answers(page).first.get_attribute("data-state") == "done"
    assert answers(page).first.locator(".answer-text strong").text_content() == "answer"
    observe(page)

    held.release()
    assert wait_ended(page, count=2) == "done"
    record = sim.record(marker)
    assert record["finished"] and not record["closed_early"]
    assert answer_text(page) == record["reply"] == REPLY
    assert answers(page).count() == 2
    # After a reload nothing of the answer is on the page: it is replayed from the stream's start.
    assert int(held.requests[0].url.rsplit("after=", 1)[1]) == 0
    growing(seen(page))
    assert saved(page)["stream"] is None

    # The resumed answer is part of the conversation sent next.
    follow = sim.rule(reply="Noted.", token_ms=1)
    send(page, f"Third {follow}")
    assert wait_ended(page, count=3) == "done"
    assert sent_messages(sim.record(follow))[-2] == {"role": "assistant", "content": REPLY}

    # A reload of the finished chat shows it as it is, and resumes nothing.
    page.reload()
    page.wait_for_function("() => document.documentElement.dataset.ready === 'true'")
    assert [a.get_attribute("data-state") for a in answers(page).all()] == ["done", "done", "done"]
    assert answer_text(page) == "Noted."
    assert len(held.requests) == 1
    assert page.page_errors == []


# Notes the tab's visibility at each resume fetch.
FETCH_VISIBILITY = """
() => {
  window.__resumeFetches = [];
  const fetch = window.fetch;
  window.fetch = (url, init) => {
    if (String(url).includes('after=')) window.__resumeFetches.push(document.visibilityState);
    return fetch(url, init);
  };
}
"""


def test_a_hidden_tab_reconnects_once_it_is_visible_again(page, proxy: DroppingProxy, sim: Simulator) -> None:
    """iOS kills a background tab's fetch: trying again while hidden would only spend the tries."""
    page.add_init_script(f"({HIDDEN_TAB})()")
    page.add_init_script(f"({FETCH_VISIBILITY})()")
    marker = sim.rule(reply=REPLY, token_ms=30)
    open_chat(page, proxy.url)
    send(page, f"Off to the background {marker}")
    wait_for_text(page, 20)
    page.evaluate("window.__setVisibility('hidden')")
    proxy.drop()
    wait_reconnecting(page)
    sim.wait_for(marker, lambda r: r["finished"])  # seconds pass: the page, hidden, has not tried
    assert page.evaluate("window.__resumeFetches") == []
    assert last_answer(page).get_attribute("data-state") == "streaming"

    page.evaluate("window.__setVisibility('visible')")
    assert wait_ended(page) == "done"
    assert answer_text(page) == REPLY
    assert page.evaluate("window.__resumeFetches") == ["visible"]


def test_stop_cancels_the_generation_on_the_server(page, resume_host: Host, sim: Simulator) -> None:
    marker = sim.rule(reply="word " * 400, token_ms=50)  # 20 s: well inside the 60 s grace period
    open_chat(page, resume_host.url)
    send(page, f"Go on and on {marker}")
    wait_for_text(page, 20)
    resume = saved(page)["stream"]["resume"]

    with page.expect_response(lambda r: r.url.endswith("/cancel")) as cancel:
        page.click("#stop")
    assert wait_ended(page) == "stopped"
    assert (cancel.value.request.method, cancel.value.status) == ("POST", 204)
    assert cancel.value.url == f"{resume_host.url}{resume['url']}/cancel"
    assert cancel.value.request.headers["x-resume-token"] == resume["token"]
    # Aborting alone would leave the model writing for the grace period; the cancel closes it now.
    record = sim.wait_for(marker, lambda r: r["ended_at"] is not None)
    assert record["closed_early"] and not record["finished"]
    assert saved(page)["stream"] is None

    # The stream's log ends with the server's own word for it.
    replay = httpx.get(
        f"{resume_host.url}{resume['url']}", params={"after": 0}, headers={"X-Resume-Token": resume["token"]}
    )
    assert replay.status_code == 200
    assert ndjson_events(replay.text)[-1]["error"]["code"] == "cancelled"


def test_nothing_to_resume_falls_back_to_interrupted_and_retry(page, proxy: DroppingProxy, sim: Simulator) -> None:
    """The stream outgrew its log (CHAT_RESUME_MAX_STREAM_BYTES): the resume is a real 404."""
    marker = sim.rule(reply="word " * 1500, token_ms=6)
    open_chat(page, proxy.url)
    resumes: list[Any] = []
    page.on("response", lambda r: resumes.append(r) if is_resume(r.url) else None)
    observe(page)
    send(page, f"Too long to keep {marker}")
    wait_for_text(page, 20)
    page.wait_for_function(
        "(n) => Number(document.querySelector('.message.assistant').dataset.received) > n", arg=STREAM_BUDGET // 8
    )
    proxy.drop()

    assert wait_ended(page) == "interrupted"
    assert [r.status for r in resumes] == [404]
    item = last_answer(page)
    assert item.locator(".badge-interrupted").is_visible()
    assert item.locator(".reconnecting").is_hidden()
    assert item.locator(".error-note .error-code").text_content() == "interrupted"
    states = seen(page)
    assert any(s["reconnecting"] for s in states) and not states[-1]["reconnecting"]
    assert saved(page)["stream"] is None

    sim.rule(match=marker, reply="Back online.", token_ms=1, times=1)
    item.get_by_role("button", name="Retry this answer").click()
    assert wait_ended(page) == "done"
    assert answer_text(page) == "Back online."
    assert sent_messages(sim.records(marker)[-1]) == [{"role": "user", "content": f"Too long to keep {marker}"}]


def test_unreachable_server_is_tried_a_few_times_then_interrupted(page, proxy: DroppingProxy, sim: Simulator) -> None:
    marker = sim.rule(reply="word " * 300, token_ms=40)
    open_chat(page, proxy.url)
    failed: list[Any] = []
    page.on("requestfailed", lambda r: failed.append(r) if is_resume(r.url) else None)
    send(page, f"Into the tunnel {marker}")
    wait_for_text(page, 20)
    proxy.close()  # every connection reset, and no new one accepted: the network is gone
    wait_reconnecting(page)

    assert wait_ended(page) == "interrupted"
    assert len(failed) == 4, [r.url for r in failed]
    assert "connection was lost" in last_answer(page).locator(".error-note").text_content()
    assert last_answer(page).get_by_role("button", name="Retry this answer").is_visible()


def test_resume_unavailable_keeps_the_old_behaviour(page, unavailable_host: Host, sim: Simulator) -> None:
    proxy = DroppingProxy(unavailable_host.url)
    try:
        marker = sim.rule(reply="word " * 200, token_ms=40)
        open_chat(page, proxy.url)
        requests: list[Any] = []
        page.on("request", lambda r: requests.append(r) if "/api/" in r.url else None)
        observe(page)
        send(page, f"No store today {marker}")
        wait_for_text(page, 20)
        proxy.drop()
        assert wait_ended(page) == "interrupted"
        assert "resume unavailable" in unavailable_host.log
        assert [r.url.removeprefix(proxy.url) for r in requests] == ["/api/chat/stream"]
        assert not any(s["reconnecting"] for s in seen(page))
        assert saved(page)["stream"] is None
        assert "connection was lost" in last_answer(page).locator(".error-note").text_content()
        assert last_answer(page).get_by_role("button", name="Retry this answer").is_visible()
    finally:
        proxy.close()


def test_the_first_line_says_why_resume_is_unavailable(unavailable_host: Host) -> None:
    """The unavailable host really tells clients so (what the page above relies on)."""
    body = {"messages": [{"role": "user", "content": "hello"}]}
    response = httpx.post(f"{unavailable_host.url}/api/chat/stream", json=body, timeout=30)
    first = json.loads(response.text.split("\n", 1)[0])
    assert first["context"]["resume"] == {"available": False}
