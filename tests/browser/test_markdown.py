"""Answers are Markdown: rendered as elements while they stream, half-received constructs kept tidy."""

from __future__ import annotations

import itertools

from dev.simulator import tokenize
from tests.browser.chat_page import last_answer, observe, open_chat, seen, send, wait_ended, wait_for_text
from tests.harness import Host, Simulator

CODE = 'for delta in stream:\n    print(delta, end="")\n'
ANSWER = (
    "## Streaming, in short\n\n"
    "Tokens arrive **one by one**, and the page shows *each* as it comes.\n\n"
    "- Low latency\n"
    "- Works with `fetch`\n"
    "- No polling\n\n"
    "| Mode | First word |\n"
    "| --- | --- |\n"
    "| Streaming | at once |\n"
    "| Whole | at the end |\n\n"
    f"```python\n{CODE}```\n\n"
    "Read [the docs](https://learn.microsoft.com/azure/azure-functions/) next."
)
# What a reader must never see while the answer streams: Markdown's own marks.
RAW_MARKS = ("**", "`", "|", "](", "[", "##", "- ")


def test_markdown_streams_as_elements(page, host: Host, sim: Simulator) -> None:
    deltas = tokenize(ANSWER)
    assert "```python\n" not in deltas and any(d.endswith("```") for d in deltas), "the fence must arrive split"
    marker = sim.rule(reply=ANSWER, token_ms=25)
    open_chat(page, host.url)
    observe(page)
    send(page, f"Markdown please {marker}")

    # The heading that shows first stays the same element to the end: finished blocks are not rebuilt.
    wait_for_text(page)
    page.wait_for_function("() => document.querySelector('.message.assistant .answer-text h2')")
    page.evaluate("document.querySelector('.message.assistant .answer-text h2').kept = true")
    assert wait_ended(page) == "done"

    text = last_answer(page).locator(".answer-text")
    assert page.evaluate("document.querySelector('.message.assistant .answer-text h2').kept") is True
    assert text.locator("h2").text_content() == "Streaming, in short"
    assert text.locator("strong").text_content() == "one by one"
    assert text.locator("em").text_content() == "each"
    assert text.locator("ul > li").all_text_contents() == ["Low latency", "Works with fetch", "No polling"]
    assert text.locator("li code").text_content() == "fetch"
    assert text.locator("table th").all_text_contents() == ["Mode", "First word"]
    assert text.locator("table td").all_text_contents() == ["Streaming", "at once", "Whole", "at the end"]
    block = text.locator(".code-block")
    assert block.locator(".code-language").text_content() == "python"
    assert block.locator("pre > code").text_content() == CODE
    assert block.get_by_role("button", name="Copy the python code").is_visible()
    link = text.locator("a")
    assert link.text_content() == "the docs"
    assert link.get_attribute("href") == "https://learn.microsoft.com/azure/azure-functions/"
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener noreferrer"

    states = [s for s in seen(page) if s["state"] == "streaming" and s["text"]]
    distinct = [s for s, t in itertools.groupby(states, key=lambda s: s["html"])]
    assert len(distinct) >= 10, "the answer must render progressively"
    # Half-received constructs render as what they will become, never as raw marks.
    for state in states:
        assert not any(mark in state["text"] for mark in RAW_MARKS), state["text"]
    assert any("<table>" in s["html"] and s["html"].count("<tr>") < 3 for s in states), "a half table is a table"
    assert any("code-block" in s["html"] and CODE not in s["text"] for s in states), "an open fence is code"
    assert page.page_errors == []


# Renders every prefix of the answer the way the page does while streaming, and reports what a
# reader would see at each step: the top-level blocks, and the text outside code blocks.
EVERY_PREFIX = """
async (text) => {
  const { MarkdownView, toFragment } = await import('/js/markdown.js');
  const describe = (fragment) => {
    const box = document.createElement('div');
    box.append(fragment);
    const blocks = [...box.children].map((child) => child.className || child.nodeName.toLowerCase());
    const html = box.innerHTML;
    for (const code of box.querySelectorAll('.code-block')) code.remove();
    return { blocks, text: box.textContent, html };
  };
  const steps = [];
  const shown = document.createElement('div');
  const view = new MarkdownView(shown);  // as the page does it: only the unfinished end is parsed again
  const differs = [];
  for (let end = 1; end <= text.length; end += 1) {
    const step = describe(toFragment(text.slice(0, end), { partial: true }));
    view.render(text.slice(0, end));
    if (shown.innerHTML !== step.html) differs.push(end);
    steps.push(step);
  }
  view.render(text, { partial: false });
  return { steps, differs, whole: describe(toFragment(text)), final: shown.innerHTML };
}
"""


def test_every_partial_answer_renders_tidily(page, host: Host) -> None:
    open_chat(page, host.url)
    result = page.evaluate(EVERY_PREFIX, ANSWER)
    steps = result["steps"]
    assert len(steps) == len(ANSWER)
    for end, step in enumerate(steps, start=1):
        visible = step["text"]
        assert not any(mark in visible for mark in RAW_MARKS), (ANSWER[:end], visible)
        assert "https://" not in visible, "a link cut mid-URL shows its words, not its address"
    # Blocks settle: once a block is followed by another, it keeps its kind (no heading turning
    # into a paragraph, no paragraph turning into a table), so nothing above the end jumps.
    for before, after in itertools.pairwise(steps):
        settled = before["blocks"][:-1]
        assert after["blocks"][: len(settled)] == settled, (before["blocks"], after["blocks"])
    # The page's incremental rendering shows exactly what rendering the whole text would.
    assert result["differs"] == []
    # And the last step is the finished answer.
    assert steps[-1]["html"] == result["whole"]["html"] == result["final"]
    assert result["whole"]["blocks"] == ["h2", "p", "ul", "table-scroll", "code-block", "p"]


REFERENCES = "See [the docs][docs] first.\n\nThen run it.\n\n[docs]: https://learn.microsoft.com/azure/"


def test_reference_links_resolve_when_the_answer_ends(page, host: Host) -> None:
    """A definition at the end can make a link of a block that had already settled."""
    open_chat(page, host.url)
    result = page.evaluate(EVERY_PREFIX, REFERENCES)
    assert result["final"] == result["whole"]["html"]
    assert 'href="https://learn.microsoft.com/azure/"' in result["final"]
