"""How the page looks and behaves as deployed: the SWA headers, phone widths, zoom, dark mode, screenshots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser.chat_page import last_answer, open_chat, send, wait_ended
from tests.browser.conftest import swa_headers
from tests.harness import ROOT, Host, Simulator

SCREENSHOT = ROOT / "docs" / "screenshot.png"  # rewritten with UPDATE_SCREENSHOT=1
OUTPUT = ROOT / "test-results" / "browser"  # ignored by git: extra screenshots to look at

QUESTION = "What are the ways to say “good morning” in Japanese? Show me in code too."
REASONING = (
    "**Sorting by formality.** The polite form suits work and strangers, the short one friends; "
    "a small table makes the difference plain, and a dictionary shows it in code."
)
ANSWER = (
    "In Japanese, **good morning** depends on whom you greet ☀️:\n\n"
    "| Phrase | Reading | When |\n"
    "| --- | --- | --- |\n"
    "| おはようございます | ohayō gozaimasu | polite: work, strangers |\n"
    "| おはよう | ohayō | friends and family |\n\n"
    "- Say it until about 10 a.m.; after that, `こんにちは`\n"
    "- With the polite form, bow slightly 🙇\n\n"
    "```python\n"
    'greetings = {"polite": "おはようございます", "casual": "おはよう"}\n'
    'print(greetings["polite"])\n'
    "```\n\n"
    "In Chinese it is 早上好 (*zǎoshang hǎo*), in Korean 좋은 아침이에요."
)


def ask(page, sim: Simulator) -> None:
    """One answer with Markdown, after a (collapsed) thinking section."""
    sim.rule(match="good morning", reply=ANSWER, reasoning=REASONING, think_ms=1200, token_ms=2)
    send(page, QUESTION)
    assert wait_ended(page) == "done"


def converse(page, sim: Simulator) -> None:
    ask(page, sim)
    sim.rule(match="formal", reply="The polite form おはようございます works everywhere 🙇.", token_ms=2)
    send(page, "And which one is more formal?")
    assert wait_ended(page, count=2) == "done"


def test_screenshot_of_a_finished_conversation(browser, host: Host, sim: Simulator) -> None:
    context = browser.new_context(viewport={"width": 1000, "height": 780}, color_scheme="light")
    try:
        page = context.new_page()
        open_chat(page, host.url)
        ask(page, sim)
        answer = last_answer(page)
        assert answer.locator(".thinking").get_attribute("open") is None
        assert re.fullmatch(r"Thought for \d+ s", answer.locator(".thinking summary").text_content())
        assert answer.locator("table").is_visible() and answer.locator(".code-block").is_visible()
        page.locator("#prompt").blur()
        page.mouse.move(0, 0)
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / "conversation.png"))
        # The committed picture changes only on request, so a test run leaves the tree clean.
        if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
    finally:
        context.close()


@pytest.mark.parametrize(
    ("name", "viewport", "scheme"),
    [("phone", {"width": 390, "height": 780}, "light"), ("dark", {"width": 1100, "height": 800}, "dark")],
)
def test_phone_and_dark(browser, host: Host, sim: Simulator, name: str, viewport: dict, scheme: str) -> None:
    context = browser.new_context(
        viewport=viewport, color_scheme=scheme, device_scale_factor=2 if name == "phone" else 1
    )
    try:
        page = context.new_page()
        open_chat(page, host.url)
        converse(page, sim)
        page.locator("#prompt").blur()
        overflow = page.evaluate("document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth")
        assert overflow <= 0, "no sideways scrolling"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / f"{name}.png"))
    finally:
        context.close()


def test_reflows_at_400_percent_zoom(browser, host: Host, sim: Simulator) -> None:
    """WCAG 1.4.10: 1280 px at 400 % zoom is a 320 CSS px viewport; nothing may need sideways scrolling."""
    context = browser.new_context(viewport={"width": 320, "height": 256}, device_scale_factor=4)
    try:
        page = context.new_page()
        open_chat(page, host.url)
        assert page.locator(".suggestion").first.is_visible()
        converse(page, sim)
        assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")
        assert page.locator("#prompt").is_visible()
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / "zoom400.png"))
    finally:
        context.close()


def test_page_works_under_the_static_web_app_headers(page, host: Host, sim: Simulator) -> None:
    """Serve every file with staticwebapp.config.json's globalHeaders: the CSP must not block anything."""
    headers = swa_headers()
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective));"
    )

    def with_headers(route) -> None:
        if "/api/" in route.request.url:
            route.continue_()
            return
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, **headers})

    page.route("**/*", with_headers)
    open_chat(page, host.url)
    marker = sim.rule(reply="Allowed by the policy ✓", token_ms=5)
    send(page, f"CSP {marker}")
    assert wait_ended(page) == "done"
    page.get_by_role("button", name="New chat").click()
    assert page.evaluate("window.__violations") == []
    assert page.page_errors == []


def test_static_web_app_config_is_sound() -> None:
    import json

    config = json.loads((ROOT / "web" / "staticwebapp.config.json").read_text(encoding="utf-8"))
    fallback = config["navigationFallback"]
    assert fallback["rewrite"] == "/index.html"
    assert "/api/*" in fallback["exclude"]
    assert not any(r["route"].startswith("/api") for r in config.get("routes", [])), "/api/* is the linked backend's"
    csp = config["globalHeaders"]["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in csp
    assert "unsafe" not in csp
    web_config = json.loads((ROOT / "web" / "config.json").read_text(encoding="utf-8"))
    assert web_config == {"apiBase": "", "framing": "ndjson"}
    assert Path(ROOT / "web" / "index.html").read_text(encoding="utf-8").count("<script") == 1


CONTRAST = """
(selectors) => {
  const rgb = (value) => value.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const [r, g, b, a = 1] = rgb(getComputedStyle(el).backgroundColor);
      if (a > 0) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const result = {};
  for (const selector of selectors) {
    const el = document.querySelector(selector);
    const [l1, l2] = [luminance(rgb(getComputedStyle(el).color)), luminance(background(el))].sort((a, b) => b - a);
    result[selector] = (l1 + 0.05) / (l2 + 0.05);
  }
  return result;
}
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(browser, host: Host, sim: Simulator, scheme: str) -> None:
    context = browser.new_context(color_scheme=scheme)
    try:
        page = context.new_page()
        open_chat(page, host.url)
        stopped = sim.rule(reply="word " * 100, token_ms=40)
        send(page, f"Stop {stopped}")
        page.wait_for_function("() => document.querySelector('.message.assistant')?.dataset.state === 'streaming'")
        page.click("#stop")
        failed = sim.rule(fault="500")
        send(page, f"Fail {failed}")
        assert wait_ended(page, count=2) == "error"
        cut = sim.rule(reply="Half an answer, then", fault="cut", fault_after=3, token_ms=1)
        send(page, f"Cut {cut}")
        assert wait_ended(page, count=3) == "interrupted"
        ask(page, sim)
        page.locator(".message.assistant").last.locator(".thinking summary").click()
        selectors = [
            ".brand-name",
            ".switch-label",
            ".message.user .bubble",
            ".answer-text p",
            ".meta",
            ".badge-stopped",
            ".badge-interrupted",
            ".error-message",
            ".hint",
            ".thinking-label",
            ".thinking-text",
            ".answer-text th",
            ".answer-text td",
            ".answer-text :not(pre) > code",
            ".code-language",
            ".copy-code",
            ".code-block code",
        ]
        ratios = page.evaluate(CONTRAST, selectors)
        low = {s: round(r, 2) for s, r in ratios.items() if r < 4.5}
        assert not low, f"text below 4.5:1 in {scheme}: {low}"
    finally:
        context.close()
