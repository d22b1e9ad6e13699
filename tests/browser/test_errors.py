"""Failures are shown in the conversation, with whatever text had arrived kept on screen."""

from __future__ import annotations

from dev.simulator import tokenize
from tests.browser.chat_page import (
    answer_text,
    answers,
    last_answer,
    open_chat,
    send,
    sent_messages,
    wait_ended,
    wait_for_text,
)
from tests.browser.tcp_proxy import DroppingProxy
from tests.harness import Host, Simulator

REPLY = "The first part arrives fine. Then the filter steps in and nothing more comes."


def test_error_status_before_the_stream_is_shown(page, host: Host, sim: Simulator) -> None:
    marker = sim.rule(fault="500")
    responses = []
    page.on("response", lambda r: responses.append(r) if r.url.endswith("/api/chat/stream") else None)
    open_chat(page, host.url)
    send(page, f"Fail please {marker}")

    assert wait_ended(page) == "error"
    assert [r.status for r in responses] == [502]
    body = responses[0].json()
    note = last_answer(page).locator(".error-note")
    assert note.is_visible()
    assert "Error 502" in note.text_content()
    assert body["error"]["message"] in note.text_content()
    assert note.locator(".error-code").text_content() == body["error"]["code"]
    assert answer_text(page) == ""
    page.wait_for_function("() => document.getElementById('announcer').textContent.startsWith('The answer failed')")

    # Retry asks again for the same question; this time the simulator answers.
    sim.rule(match=marker, reply="Second time lucky.", token_ms=1, times=1)
    last_answer(page).get_by_role("button", name="Retry this answer").click()
    assert wait_ended(page) == "done"
    assert answer_text(page) == "Second time lucky."
    assert page.locator(".message.assistant").count() == 1
    assert page.locator(".message.user").count() == 1


def test_error_line_mid_stream_keeps_partial_text(page, host: Host, sim: Simulator) -> None:
    marker = sim.rule(reply=REPLY, fault="content_filter", fault_after=6, token_ms=20)
    open_chat(page, host.url)
    send(page, f"Say something filtered {marker}")

    assert wait_ended(page) == "interrupted"
    partial = "".join(tokenize(REPLY)[:6])
    assert answer_text(page) == partial
    note = last_answer(page).locator(".error-note")
    assert note.locator(".error-code").text_content() == "content_filter"
    assert "content filter" in note.text_content()
    assert page.locator("#send").is_visible()

    # The partial answer stays in the conversation that is sent next.
    follow = sim.rule(reply="Fine.", token_ms=1)
    send(page, f"Next {follow}")
    assert wait_ended(page, count=2) == "done"
    assert sent_messages(sim.record(follow))[-2] == {"role": "assistant", "content": partial}


def test_cut_stream_keeps_the_partial_answer_with_a_working_retry(page, host: Host, sim: Simulator) -> None:
    """The upstream connection drops mid-answer: what arrived stays, marked, and Retry resends the question."""
    reply = "Part one of the answer is here, and then the line goes dead before the rest."
    marker = sim.rule(reply=reply, fault="cut", fault_after=7, token_ms=15)
    open_chat(page, host.url)
    send(page, f"Cut me off {marker}")

    assert wait_ended(page) == "interrupted"
    partial = "".join(tokenize(reply)[:7])
    item = last_answer(page)
    assert answer_text(page) == partial
    assert item.locator(".badge-interrupted").text_content() == "Interrupted"
    assert item.locator(".error-note").is_visible()
    page.wait_for_function(
        "() => document.getElementById('announcer').textContent.startsWith('The answer was interrupted')"
    )

    # Retry resends the conversation as it was before this answer, without the partial text.
    sim.rule(match=marker, reply="The whole answer, this time.", token_ms=1, times=1)
    item.get_by_role("button", name="Retry this answer").click()
    assert wait_ended(page) == "done"
    assert answer_text(page) == "The whole answer, this time."
    assert answers(page).count() == 1
    retried = sim.records(marker)[-1]
    assert sent_messages(retried) == [{"role": "user", "content": f"Cut me off {marker}"}]


def test_network_drop_mid_answer_is_not_a_silent_bubble(page, host: Host, sim: Simulator) -> None:
    """The connection drops while the answer streams (a phone in a tunnel; iOS kills a backgrounded fetch)."""
    proxy = DroppingProxy(host.url)
    try:
        marker = sim.rule(reply="word " * 200, token_ms=40)
        open_chat(page, proxy.url)
        send(page, f"Long answer {marker}")
        wait_for_text(page, 20)
        proxy.drop()
        assert wait_ended(page) == "interrupted"
        shown = answer_text(page)
        assert shown.startswith("word word") and len(shown) < len("word " * 200)
        item = last_answer(page)
        assert item.locator(".badge-interrupted").is_visible()
        note = item.locator(".error-note")
        assert "connection was lost" in note.text_content()
        assert note.locator(".error-code").text_content() == "interrupted"

        sim.rule(match=marker, reply="Back online.", token_ms=1, times=1)
        item.get_by_role("button", name="Retry this answer").click()
        assert wait_ended(page) == "done"
        assert answer_text(page) == "Back online."
        assert sent_messages(sim.records(marker)[-1]) == [{"role": "user", "content": f"Long answer {marker}"}]
    finally:
        proxy.close()


def test_unreachable_server_is_reported(page, host: Host) -> None:
    open_chat(page, host.url)
    page.route("**/api/chat/stream", lambda route: route.abort("connectionrefused"))
    send(page, "Anyone there?")
    assert wait_ended(page) == "error"
    assert "Could not reach the server" in last_answer(page).locator(".error-note").text_content()


def test_an_empty_answer_says_so(page, host: Host, sim: Simulator) -> None:
    marker = sim.rule(reply="", token_ms=1)
    open_chat(page, host.url)
    send(page, f"Say nothing {marker}")
    assert wait_ended(page) == "done"
    item = last_answer(page)
    assert item.locator(".note").text_content() == "The model finished without writing an answer."
    assert item.get_by_role("button", name="Retry this answer").is_visible()
