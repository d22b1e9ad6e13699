"""Failures are shown in the conversation, with whatever text had arrived kept on screen."""

from __future__ import annotations

from dev.simulator import tokenize
from tests.browser.chat_page import answer_text, last_answer, open_chat, send, wait_ended
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

    assert wait_ended(page) == "error"
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
    assert sim.record(follow)["body"]["messages"][-2] == {"role": "assistant", "content": partial}


def test_unreachable_server_is_reported(page, host: Host) -> None:
    open_chat(page, host.url)
    page.route("**/api/chat/stream", lambda route: route.abort("connectionrefused"))
    send(page, "Anyone there?")
    assert wait_ended(page) == "error"
    assert "Could not reach the server" in last_answer(page).locator(".error-note").text_content()
