"""The answer streams: progress first, then text that grows while the model is still writing."""

from __future__ import annotations

import itertools

from tests.browser.chat_page import (
    answer_text,
    last_answer,
    observe,
    open_chat,
    seen,
    send,
    sent_messages,
    wait_ended,
    wait_for_text,
)
from tests.harness import Host, Simulator

REPLY = (
    "Streaming shows each word as the model writes it. 日本語のテキストも流れます。 "
    "Emoji arrive whole 🚀✨ and so do accents: café, naïve. "
    "That is the whole answer, one token at a time."
)


def test_reply_appears_progressively_after_progress(page, host: Host, sim: Simulator) -> None:
    marker = sim.rule(reply=REPLY, ttft_ms=300, token_ms=60)
    open_chat(page, host.url)
    observe(page)
    send(page, f"Tell me about streaming {marker}")

    # Text is on screen while the simulator is still sending tokens: it really streams.
    wait_for_text(page)
    assert not sim.record(marker)["finished"], "the first words should show before the model finishes"

    assert wait_ended(page) == "done"
    record = sim.record(marker)
    assert record["stream"] is True
    assert record["finished"] and not record["closed_early"]
    assert answer_text(page) == record["reply"] == REPLY

    states = seen(page)
    statuses = [s["status"] for s in states if s["status"]]
    texts = [s["text"] for s in states]
    # Progress: "Processing…" at once, the server's "Generating answer…", then text.
    assert statuses[0] == "Processing your question…"
    assert "Generating answer…" in statuses
    first_text = next(i for i, s in enumerate(states) if s["text"])
    last_progress = max(i for i, s in enumerate(states) if s["status"])
    assert statuses.index("Generating answer…") < first_text
    assert last_progress < first_text, "the progress line goes away once text shows"
    # Many distinct partial states, each growing the one before.
    distinct = [t for i, t in enumerate(texts) if t and (i == 0 or t != texts[i - 1])]
    assert len(distinct) >= 8, distinct
    for before, after in itertools.pairwise(distinct):
        assert after.startswith(before)
    assert distinct[-1] == REPLY
    # The finished answer is announced once, politely; tokens are not.
    page.wait_for_function("() => document.getElementById('announcer').textContent.length > 0")
    assert page.locator("#announcer").text_content() == f"Answer: {REPLY}"
    assert page.locator("#announcer").get_attribute("aria-live") == "polite"
    assert last_answer(page).locator(".meta").text_content().endswith("tokens")
    assert page.page_errors == []


def test_stop_keeps_partial_text_and_closes_upstream(page, host: Host, sim: Simulator) -> None:
    marker = sim.rule(reply=REPLY * 3, ttft_ms=50, token_ms=80)
    open_chat(page, host.url)
    send(page, f"A long one please {marker}")
    wait_for_text(page, 20)
    assert page.locator("#send").is_hidden()
    page.click("#stop")

    assert wait_ended(page) == "stopped"
    record = sim.wait_for(marker, lambda r: r["ended_at"] is not None)
    assert record["closed_early"] is True, "aborting the fetch must close the upstream stream"
    assert not record["finished"]
    shown = answer_text(page)
    assert shown and REPLY.startswith(shown[: len(REPLY)]) and len(shown) < len(REPLY * 3)
    assert last_answer(page).locator(".badge-stopped").text_content() == "Stopped"
    assert page.locator("#send").is_visible() and page.locator("#stop").is_hidden()
    assert page.evaluate("document.activeElement.id") == "prompt"

    # The partial answer is part of the conversation sent next.
    follow = sim.rule(reply="OK.", token_ms=1)
    send(page, f"Go on {follow}")
    assert wait_ended(page, count=2) == "done"
    sent = sent_messages(sim.record(follow))
    assert sent[-3:] == [
        {"role": "user", "content": f"A long one please {marker}"},
        {"role": "assistant", "content": shown},
        {"role": "user", "content": f"Go on {follow}"},
    ]


HIDDEN_TAB = """
() => {
  window.__visibility = 'visible';
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true, get() { return window.__visibility; },
  });
  Object.defineProperty(Document.prototype, 'hidden', {
    configurable: true, get() { return window.__visibility === 'hidden'; },
  });
  window.__setVisibility = (value) => {
    window.__visibility = value;
    document.dispatchEvent(new Event('visibilitychange'));
  };
}
"""


def test_background_tab_shows_what_arrived_without_animation(page, host: Host, sim: Simulator) -> None:
    words = " ".join(f"word{i}" for i in range(400))
    page.add_init_script(f"({HIDDEN_TAB})()")
    open_chat(page, host.url)

    # Visible: a burst is paced, so at some moment less is shown than has arrived...
    marker = sim.rule(reply=words, ttft_ms=0, token_ms=0)
    send(page, f"Burst {marker}")
    page.wait_for_function(
        f"""() => {{
            const item = document.querySelector('.message.assistant');
            return item && Number(item.dataset.received) === {len(words)}
                && item.querySelector('.answer-text').textContent.length < {len(words)};
        }}"""
    )
    # ...and the moment the tab comes back from the background, all of it is there at once.
    shown = page.evaluate(
        """() => {
            window.__setVisibility('hidden');
            window.__setVisibility('visible');
            return document.querySelector('.message.assistant .answer-text').textContent;
        }"""
    )
    assert shown == words
    assert wait_ended(page) == "done"

    # Hidden: nothing waits for a throttled timer; every change shows all that has arrived.
    page.evaluate("window.__setVisibility('hidden')")
    observe(page)
    marker = sim.rule(reply=words, ttft_ms=0, token_ms=1)
    send(page, f"Burst again {marker}")
    assert wait_ended(page, count=2) == "done"
    states = [s for s in seen(page) if s["state"] in ("streaming", "done")]
    assert states
    assert all(s["shown"] == s["received"] for s in states), "a hidden tab must not queue animation"
    assert answer_text(page) == words
