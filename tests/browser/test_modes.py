"""Configuration and modes: the non-streaming toggle, SSE framing, sessionState, keyboard-only use."""

from __future__ import annotations

import json

import pytest

from tests.browser.chat_page import answer_text, open_chat, send, sent_messages, wait_ended
from tests.harness import Host, Simulator

REPLY = "Framed or not, the words are the same: 日本語 and 🚀."


def api_requests(page) -> list:
    requests: list = []
    page.on("request", lambda r: requests.append(r) if "/api/" in r.url else None)
    return requests


def test_toggle_uses_the_whole_answer_endpoint_and_is_remembered(page, host: Host, sim: Simulator) -> None:
    requests = api_requests(page)
    open_chat(page, host.url)
    toggle = page.get_by_role("switch", name="Stream replies")
    assert toggle.is_checked()
    toggle.uncheck()

    marker = sim.rule(reply=REPLY, token_ms=20)
    send(page, f"No streaming {marker}")
    assert wait_ended(page) == "done"
    assert answer_text(page) == REPLY
    assert [r.url.removeprefix(host.url) for r in requests] == ["/api/chat"]
    page.wait_for_function(
        "() => document.getElementById('announcer').textContent === " + json.dumps(f"Answer: {REPLY}")
    )

    # The choice survives a reload; switching back streams again.
    page.reload()
    page.wait_for_function("() => document.documentElement.dataset.ready === 'true'")
    toggle = page.get_by_role("switch", name="Stream replies")
    assert not toggle.is_checked()
    toggle.check()
    marker = sim.rule(reply=REPLY, token_ms=5)
    send(page, f"Streaming again {marker}")
    assert wait_ended(page) == "done"
    assert requests[-1].url.endswith("/api/chat/stream")


@pytest.mark.parametrize("how", ["query", "config.json"])
def test_sse_framing_from_configuration(page, host: Host, sim: Simulator, how: str) -> None:
    requests = api_requests(page)
    if how == "config.json":
        page.route("**/config.json", lambda route: route.fulfill(json={"apiBase": "", "framing": "sse"}))
        open_chat(page, host.url)
    else:
        open_chat(page, host.url, f"?api={host.url}&framing=sse")
    assert page.evaluate("document.documentElement.dataset.framing") == "sse"

    marker = sim.rule(reply=REPLY, token_ms=30)
    with page.expect_response("**/api/chat/stream") as response_info:
        send(page, f"SSE please {marker}")
    response = response_info.value
    assert wait_ended(page) == "done"
    assert requests[-1].headers["accept"] == "text/event-stream"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert answer_text(page) == sim.record(marker)["reply"] == REPLY


def test_ndjson_is_the_default_framing(page, host: Host, sim: Simulator) -> None:
    marker = sim.rule(reply=REPLY, token_ms=5)
    open_chat(page, host.url)
    with page.expect_response("**/api/chat/stream") as response_info:
        send(page, f"NDJSON {marker}")
    assert wait_ended(page) == "done"
    assert response_info.value.headers["content-type"].startswith("application/x-ndjson")
    assert response_info.value.request.headers["accept"] == "application/x-ndjson"
    assert answer_text(page) == REPLY


def test_session_state_and_history_round_trip(page, host: Host, sim: Simulator) -> None:
    """The page sends back the sessionState the server last gave it, with the whole conversation."""
    state = {"conversation": "c-42", "note": "ünïcode ✓"}
    bodies: list = []

    def handle(route) -> None:
        bodies.append(route.request.post_data_json)
        if len(bodies) == 1:  # the server hands out a session on the first answer
            response = route.fetch()
            text = response.text().replace('"sessionState":null', f'"sessionState":{json.dumps(state)}')
            route.fulfill(response=response, body=text)
        else:
            route.continue_()

    page.route("**/api/chat/stream", handle)
    open_chat(page, host.url)
    first = sim.rule(reply="First answer.", token_ms=5)
    send(page, f"One {first}")
    assert wait_ended(page) == "done"
    second = sim.rule(reply="Second answer.", token_ms=5)
    send(page, f"Two {second}")
    assert wait_ended(page, count=2) == "done"

    assert "sessionState" not in bodies[0]
    assert bodies[1]["sessionState"] == state
    assert bodies[1]["messages"] == [
        {"role": "user", "content": f"One {first}"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": f"Two {second}"},
    ]

    # "New chat" forgets both.
    page.get_by_role("button", name="New chat").click()
    assert page.locator(".message").count() == 0
    third = sim.rule(reply="Fresh.", token_ms=5)
    send(page, f"Three {third}")
    assert wait_ended(page) == "done"
    assert "sessionState" not in bodies[2]
    assert bodies[2]["messages"] == [{"role": "user", "content": f"Three {third}"}]


def test_keyboard_only(page, host: Host, sim: Simulator) -> None:
    open_chat(page, host.url)
    # Tab from the top of the page: the skip link comes first and leads to the message box.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "prompt"
    # The focused composer shows a visible focus ring.
    ring = page.evaluate("getComputedStyle(document.getElementById('composer')).boxShadow")
    assert ring != "none"

    marker = sim.rule(reply="Typed by keyboard. ⌨️ キーボード", token_ms=10)
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type(f"second line 🚀 {marker}")
    assert page.input_value("#prompt") == f"first line\nsecond line 🚀 {marker}"
    page.keyboard.press("Enter")
    assert wait_ended(page) == "done"
    assert sent_messages(sim.record(marker))[-1]["content"] == f"first line\nsecond line 🚀 {marker}"
    assert page.locator(".message.user .bubble").text_content() == f"first line\nsecond line 🚀 {marker}"
    assert answer_text(page) == "Typed by keyboard. ⌨️ キーボード"
    assert page.input_value("#prompt") == ""
    assert page.evaluate("document.activeElement.id") == "prompt"

    # Esc stops an answer without leaving the keyboard.
    slow = sim.rule(reply="word " * 200, token_ms=50)
    page.keyboard.type(f"long {slow}")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.message.assistant')[1]?.dataset.state === 'streaming'")
    page.keyboard.press("Escape")
    assert wait_ended(page, count=2) == "stopped"
    assert sim.wait_for(slow, lambda r: r["ended_at"] is not None)["closed_early"]

    # Every control is reachable with Tab and shows where focus is.
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(
            page.evaluate(
                """() => {
                    const el = document.activeElement;
                    const style = getComputedStyle(el.matches('#streaming') ? el.nextElementSibling : el);
                    return {id: el.id || el.className, outline: style.outlineStyle, width: style.outlineWidth};
                }"""
            )
        )
    names = [f["id"] for f in focused]
    assert {"streaming", "new-chat", "send"} <= set(names), names
    for item in focused:
        if item["id"] in ("streaming", "new-chat", "send"):
            assert item["outline"] == "solid" and item["width"] != "0px", item


def test_new_chat_while_answering_starts_clean(page, host: Host, sim: Simulator) -> None:
    open_chat(page, host.url)
    slow = sim.rule(reply="slow " * 100, token_ms=50)
    send(page, f"Old question {slow}")
    page.wait_for_function("() => document.querySelector('.message.assistant')?.dataset.state === 'streaming'")
    page.get_by_role("button", name="New chat").click()
    assert sim.wait_for(slow, lambda r: r["ended_at"] is not None)["closed_early"]
    assert page.locator(".message").count() == 0
    assert page.locator("#empty").is_visible()

    fresh = sim.rule(reply="Clean slate.", token_ms=5)
    send(page, f"New question {fresh}")
    assert wait_ended(page) == "done"
    assert page.locator(".message.assistant").count() == 1
    assert sent_messages(sim.record(fresh)) == [{"role": "user", "content": f"New question {fresh}"}]


def test_api_override_only_on_a_page_served_from_this_machine(page, host: Host, sim: Simulator) -> None:
    """#12: a crafted link with ?api= must not send a conversation elsewhere; ?framing= still works."""
    open_chat(page, host.url, "?api=https://func-chat-abc.azurewebsites.net")
    assert page.evaluate("document.documentElement.dataset.apiBase") == "https://func-chat-abc.azurewebsites.net"

    # The same files served under another host name (routed to the local host by the browser).
    def via_local_host(route) -> None:
        path = route.request.url.removeprefix("http://chat.example")
        route.fulfill(response=route.fetch(url=f"{host.url}{path}"))

    page.route("http://chat.example/**", via_local_host)
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text))
    requests = api_requests(page)
    open_chat(page, "http://chat.example", "?api=https://evil.example&framing=sse")
    assert page.evaluate("document.documentElement.dataset.apiBase") == ""
    assert page.evaluate("document.documentElement.dataset.framing") == "sse"
    assert any("?api= is ignored" in w for w in warnings), warnings

    marker = sim.rule(reply=REPLY, token_ms=1)
    send(page, f"Where does this go {marker}")
    assert wait_ended(page) == "done"
    assert [r.url for r in requests] == ["http://chat.example/api/chat/stream"]
    assert requests[0].headers["accept"] == "text/event-stream"
    assert answer_text(page) == REPLY
