"""What a test does on the chat page, by the page's own controls and data attributes."""

from __future__ import annotations

from typing import Any

ANSWER = ".message.assistant"
ENDED = ("done", "stopped", "interrupted", "error")

# Records, on every DOM change, the last answer's status line (and whether it is reconnecting),
# its thinking section, its shown text (and how much of the Markdown source that is) and how much
# text had arrived: enough to assert what a reader saw and in which order.
OBSERVE = """
() => {
  window.__seen = [];
  const log = () => {
    const answers = document.querySelectorAll('.message.assistant');
    const item = answers[answers.length - 1];
    if (!item) return;
    const status = item.querySelector('.status');
    const thinking = item.querySelector('.thinking');
    window.__seen.push({
      state: item.dataset.state,
      reconnecting: item.dataset.reconnecting === 'true',
      status: status && !status.hidden ? status.querySelector('.status-text').textContent : null,
      thinking: thinking && !thinking.hidden
        ? {label: thinking.querySelector('.thinking-label').textContent, open: thinking.open,
           time: thinking.querySelector('.thinking-time').textContent,
           text: thinking.querySelector('.thinking-text').textContent}
        : null,
      text: item.querySelector('.answer-text').textContent,
      html: item.querySelector('.answer-text').innerHTML,
      shown: Number(item.dataset.shown || 0),
      received: Number(item.dataset.received || 0),
    });
  };
  new MutationObserver(log).observe(document.getElementById('messages'), {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
}
"""


# Predicates are functions, not expressions: Playwright evals expression strings inside the page,
# which the page's Content Security Policy (no 'unsafe-eval') forbids.


def open_chat(page: Any, url: str, query: str = "") -> None:
    page.goto(f"{url}/{query}")
    page.wait_for_function("() => document.documentElement.dataset.ready === 'true'")


def observe(page: Any) -> None:
    page.evaluate(OBSERVE)


def seen(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("window.__seen")


def send(page: Any, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def answers(page: Any) -> Any:
    return page.locator(ANSWER)


def last_answer(page: Any) -> Any:
    return page.locator(ANSWER).last


def wait_ended(page: Any, count: int | None = None, timeout: float = 20_000) -> str:
    """Wait until the last (or the `count`th) answer is done, stopped or failed; return which."""
    index = "answers.length - 1" if count is None else str(count - 1)
    page.wait_for_function(
        f"""() => {{
            const answers = document.querySelectorAll('{ANSWER}');
            const item = answers[{index}];
            return item && {list(ENDED)!r}.includes(item.dataset.state);
        }}""",
        timeout=timeout,
    )
    item = page.locator(ANSWER).nth(-1 if count is None else count - 1)
    return item.get_attribute("data-state")


def wait_for_text(page: Any, longer_than: int = 0) -> None:
    """Wait until the last answer shows more than `longer_than` characters."""
    page.wait_for_function(
        """(n) => {
            const answers = document.querySelectorAll('.message.assistant');
            const text = answers[answers.length - 1]?.querySelector('.answer-text').textContent || '';
            return text.length > n;
        }""",
        arg=longer_than,
    )


def answer_text(page: Any) -> str:
    return last_answer(page).locator(".answer-text").text_content()


def answer_html(page: Any) -> str:
    return last_answer(page).locator(".answer-text").inner_html()


def sent_messages(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation the server sent upstream: Chat Completions `messages` or Responses `input`."""
    body = record["body"]
    return [{"role": m["role"], "content": m["content"]} for m in body.get("messages", body.get("input", []))]


# Every text the announcer was given, in order (the polite live region a screen reader follows).
RECORD_ANNOUNCEMENTS = """
() => {
  window.__announced = [];
  new MutationObserver(() => {
    const text = document.getElementById('announcer').textContent;
    if (text) window.__announced.push(text);
  }).observe(document.getElementById('announcer'), {childList: true, characterData: true, subtree: true});
}
"""


def record_announcements(page: Any) -> None:
    page.evaluate(RECORD_ANNOUNCEMENTS)


def announcements(page: Any) -> list[str]:
    return page.evaluate("window.__announced")
