"""Reasoning models: a "Thinking…" section streams the reasoning summary, then collapses when the answer begins."""

from __future__ import annotations

import itertools
import re

from tests.browser.chat_page import (
    announcements,
    answer_text,
    last_answer,
    observe,
    open_chat,
    record_announcements,
    seen,
    send,
    sent_messages,
    wait_ended,
)
from tests.harness import Host, Simulator

REASONING = (
    "**Reading the question.** The user wants a haiku about the sea, so five, seven and five syllables. "
    "**Choosing images.** Waves, salt and light, ending on the horizon."
)
SHOWN_REASONING = REASONING.replace("**", "")
REPLY = "Waves fold into light,\nsalt wind carries the gulls home,\nthe horizon breathes."
THOUGHT = re.compile(r"Thought for \d+ s")


def test_thinking_shows_before_the_answer_then_collapses(page, host: Host, sim: Simulator) -> None:
    # A silence long enough for the clock to tick before the summary streams.
    marker = sim.rule(reply=REPLY, reasoning=REASONING, think_ms=2500, token_ms=20)
    open_chat(page, host.url)
    observe(page)
    record_announcements(page)
    send(page, f"A haiku about the sea {marker}")
    assert wait_ended(page) == "done"
    assert answer_text(page) == REPLY

    states = seen(page)
    first_thinking = next(i for i, s in enumerate(states) if s["thinking"])
    first_word = next(i for i, s in enumerate(states) if s["text"])
    assert first_thinking < first_word, "the thinking section shows before the first word of the answer"
    # Until the answer begins: open, "Thinking…", a clock. (The server's "answering" line may close
    # it a moment before the first word arrives.)
    thinking = [s["thinking"] for s in states[first_thinking:first_word] if s["thinking"]["label"] == "Thinking…"]
    assert thinking and all(t["open"] for t in thinking)
    assert all(s["thinking"]["label"] != "Thinking…" for s in states[first_word:])
    assert "1 s" in {t["time"] for t in thinking}, "the elapsed seconds count while the model is silent"
    summaries = [t["text"] for t in thinking if t["text"]]
    assert len(set(summaries)) >= 3, "the summary streams in pieces"
    for before, after in itertools.pairwise(summaries):
        assert after.startswith(before.rstrip()), (before, after)
    assert SHOWN_REASONING.startswith(summaries[-1].rstrip())
    # The moment the answer begins, the section is closed and says how long the model thought.
    answering = states[first_word]["thinking"]
    assert not answering["open"] and THOUGHT.fullmatch(answering["label"]) and answering["time"] == ""

    # Closed, the summary is one click away; its Markdown is rendered too.
    section = last_answer(page).locator(".thinking")
    summary = section.locator("summary")
    assert THOUGHT.fullmatch(summary.text_content())
    assert section.get_attribute("open") is None
    summary.click()
    assert section.get_attribute("open") is not None
    assert section.locator(".thinking-text strong").all_text_contents() == ["Reading the question.", "Choosing images."]
    assert section.locator(".thinking-text").text_content() == SHOWN_REASONING

    # One announcement per phase, never a fragment. The app announces 50 ms after a change, so the
    # answer's announcement may follow the answer's end: wait for it, as the other tests do.
    page.wait_for_function("() => document.getElementById('announcer').textContent.startsWith('Answer:')")
    said = announcements(page)
    assert len(said) == 3, said
    assert said[0] == "Thinking…"
    assert re.fullmatch(r"Thought for \d+ seconds\. Writing the answer…", said[1])
    assert said[2].startswith("Answer: Waves fold into light,")
    assert last_answer(page).locator(".meta").text_content().endswith("reasoning)")

    # The reasoning is shown, never sent back as part of the conversation.
    follow = sim.rule(reply="Thank you.", token_ms=1)
    send(page, f"Lovely {follow}")
    assert wait_ended(page, count=2) == "done"
    assert sent_messages(sim.record(follow))[-2] == {"role": "assistant", "content": REPLY}
    assert page.page_errors == []


def test_without_a_summary_the_elapsed_time_still_shows(page, host: Host, sim: Simulator) -> None:
    marker = sim.rule(reply="Done thinking.", reasoning_tokens=40, think_ms=1600, token_ms=5)
    open_chat(page, host.url)
    observe(page)
    send(page, f"Think quietly {marker}")
    assert wait_ended(page) == "done"

    states = seen(page)
    first_word = next(i for i, s in enumerate(states) if s["text"])
    waiting = [s["thinking"] for s in states[:first_word] if s["thinking"] and s["thinking"]["label"] == "Thinking…"]
    assert waiting, "the thinking section shows even with no summary"
    assert "1 s" in {t["time"] for t in waiting}
    assert all(t["text"] == "" for t in waiting)
    section = last_answer(page).locator(".thinking")
    assert THOUGHT.fullmatch(section.locator("summary").text_content())
    section.locator("summary").click()
    assert section.locator(".thinking-text").text_content() == "No summary of the reasoning was given."


def test_whole_answer_shows_the_reasoning_summary_collapsed(page, host: Host, sim: Simulator) -> None:
    open_chat(page, host.url)
    page.get_by_role("switch", name="Stream replies").uncheck()
    marker = sim.rule(reply=REPLY, reasoning=REASONING, token_ms=1)
    send(page, f"All at once {marker}")
    assert wait_ended(page) == "done"
    section = last_answer(page).locator(".thinking")
    assert section.is_visible() and section.get_attribute("open") is None
    assert section.locator("summary").text_content() == "Reasoning summary"
    section.locator("summary").click()
    assert section.locator(".thinking-text").text_content() == SHOWN_REASONING
    assert answer_text(page) == REPLY
