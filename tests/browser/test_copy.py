"""The copy buttons put the right text on the clipboard: the answer as Markdown, a code block as code."""

from __future__ import annotations

from playwright.sync_api import expect

from dev.simulator import tokenize
from tests.browser.chat_page import last_answer, open_chat, send, wait_ended
from tests.harness import Host, Simulator

CODE = 'def greet(name: str) -> str:\n    return f"Hello, {name}! 👋"\n'
REPLY = f"Use **f-strings** — they read well:\n\n```python\n{CODE}```\n\n| a | b |\n| - | - |\n| 1 | 2 |"


def clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_copy_buttons(page, host: Host, sim: Simulator) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=host.url)
    open_chat(page, host.url)
    marker = sim.rule(reply=REPLY, token_ms=2)
    send(page, f"Show me {marker}")
    assert wait_ended(page) == "done"
    answer = last_answer(page)

    copy = answer.get_by_role("button", name="Copy the answer as Markdown")
    copy.click()
    page.wait_for_function("() => document.getElementById('announcer').textContent === 'Copied to the clipboard.'")
    assert clipboard(page) == REPLY, "the answer's Markdown, exactly as the model wrote it"
    assert copy.text_content() == "Copied"

    code_copy = answer.get_by_role("button", name="Copy the python code")
    code_copy.click()
    expect(code_copy).to_have_text("Copied")
    assert clipboard(page) == CODE

    # A partial answer can be copied too: what arrived, as Markdown.
    cut = sim.rule(reply=REPLY, fault="cut", fault_after=5, token_ms=2)
    send(page, f"Again {cut}")
    assert wait_ended(page, count=2) == "interrupted"
    partial_copy = last_answer(page).get_by_role("button", name="Copy the answer as Markdown")
    partial_copy.click()
    expect(partial_copy).to_have_text("Copied")
    assert clipboard(page) == "".join(tokenize(REPLY)[:5])
