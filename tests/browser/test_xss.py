"""Model output is untrusted: HTML and script in an answer stay inert text, under the CSP and without it."""

from __future__ import annotations

from tests.browser.chat_page import answer_text, last_answer, open_chat, send, wait_ended
from tests.harness import Host, Simulator

# (name, what the model writes, words of it that must still be readable)
PAYLOADS = [
    ("img-onerror", "Look: <img src=x onerror=\"window.__pwned='img'\"> done", "<img src=x onerror="),
    ("script", "<script>window.__pwned='script'</script>", "<script>"),
    ("javascript-link", "[click me](javascript:window.__pwned='js')", "click me"),
    ("entity-javascript-link", "[tap](jav&#x61;script:window.__pwned='entity')", "tap"),
    ("data-link", "[open](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "open"),
    ("autolink-javascript", "<javascript:window.__pwned='autolink'>", "javascript:"),
    ("raw-anchor", "<a href=\"javascript:window.__pwned='a'\">raw link</a>", "raw link"),
    ("image-tracker", "![pixel](https://tracker.example/p.png)", "pixel"),
    ("image-javascript", "![x](javascript:window.__pwned='image')", "x"),
    ("svg-in-bold", "**<svg onload=\"window.__pwned='svg'\"></svg>**", "<svg onload="),
    ("iframe-srcdoc", "<iframe srcdoc=\"<script>parent.__pwned='iframe'</script>\"></iframe>", "<iframe"),
    ("fence-label", "```\"><img src=x onerror=window.__pwned='fence'>\ncode\n```", "code"),
    ("link-title", '[x](https://example.com "a\\" onmouseover=\\"window.__pwned=\'title\'")', "x"),
    ("details-in-list", "- <details open ontoggle=\"window.__pwned='details'\">x</details>", "<details"),
    ("meta-refresh", '<meta http-equiv="refresh" content="0;url=https://evil.example/">', "<meta"),
    ("base-and-style", '<base href="https://evil.example/"><style>body{display:none}</style>', "<style>"),
    ("form", '<form action="https://evil.example/"><button>Send</button></form>', "<form"),
]

# What marked makes and the page adds (code block header, copy button, table scroller), and nothing else.
BLOCKS = {"P", "BR", "HR", "H1", "H2", "H3", "H4", "H5", "H6", "BLOCKQUOTE", "UL", "OL", "LI", "PRE"}
INLINE = {"CODE", "EM", "STRONG", "DEL", "A"}
TABLES = {"TABLE", "THEAD", "TBODY", "TR", "TH", "TD"}
ALLOWED = BLOCKS | INLINE | TABLES | {"DIV", "SPAN", "BUTTON"}

INSPECT = """
() => {
  const answer = [...document.querySelectorAll('.message.assistant')].at(-1);
  const tags = [...answer.querySelectorAll('.answer-text *, .thinking-text *')].map((el) => el.tagName);
  const handlers = [...document.querySelectorAll('*')].flatMap((el) =>
    [...el.attributes].map((a) => a.name).filter((n) => n.startsWith('on') || n === 'srcdoc'
      || (n === 'style' && el.closest('#messages'))));
  const links = [...answer.querySelectorAll('.answer-text a')].map((a) => ({
    href: a.getAttribute('href'), target: a.target, rel: a.rel }));
  return { tags, handlers, links, pwned: window.__pwned ?? null, violations: window.__violations,
           bodyShown: getComputedStyle(document.body).display !== 'none' };
}
"""

WATCH_CSP = (
    "window.__violations = [];"
    "document.addEventListener('securitypolicyviolation',"
    " (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));"
)


def check_inert(found: dict, name: str) -> None:
    assert set(found["tags"]) <= ALLOWED, (name, set(found["tags"]) - ALLOWED)
    assert found["handlers"] == [], f"{name}: no event handler or srcdoc anywhere, no style in the conversation"
    for link in found["links"]:
        assert link["href"].startswith(("https://", "http://", "mailto:")), (name, link)
        assert link["target"] == "_blank" and link["rel"] == "noopener noreferrer", (name, link)
    assert found["pwned"] is None, name
    assert found["bodyShown"], name


def test_each_payload_stays_inert_under_the_csp(page, host: Host, sim: Simulator) -> None:
    """One answer per payload, in one page (page loads are the slow part): each is checked on its own."""
    page.add_init_script(WATCH_CSP)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    with page.expect_response(f"{host.url}/") as document:
        open_chat(page, host.url)
    assert "script-src 'self'" in document.value.headers["content-security-policy"], "served with the SWA CSP"
    for count, (name, payload, readable) in enumerate(PAYLOADS, start=1):
        loaded = len(requests)
        marker = sim.rule(reply=payload, token_ms=2)
        send(page, f"Repeat after me {marker}")
        assert wait_ended(page, count=count) == "done", name

        found = page.evaluate(INSPECT)
        check_inert(found, name)
        assert found["violations"] == [], f"{name}: nothing was even tried, so no CSP violation"
        assert readable in answer_text(page), f"{name}: the model's characters are shown as text"
        assert page.url == f"{host.url}/", f"{name}: no navigation"
        assert requests[loaded:] == [f"{host.url}/api/chat/stream"], f"{name}: nothing loaded but the answer"


def test_payloads_stay_inert_without_the_csp(browser, host: Host, sim: Simulator) -> None:
    """With the CSP bypassed, the sanitizer alone must hold: nothing runs, also on hover, also in the reasoning."""
    context = browser.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        open_chat(page, host.url)
        everything = "\n\n".join(payload for _, payload, _ in PAYLOADS)
        marker = sim.rule(reply=everything, reasoning="<img src=x onerror=\"window.__pwned='reasoning'\">", token_ms=1)
        send(page, f"All of them {marker}")
        assert wait_ended(page) == "done"
        for link in last_answer(page).locator(".answer-text a").all():
            link.hover()
        last_answer(page).locator(".thinking-summary").click()
        page.wait_for_timeout(300)  # a handler, had one been inserted, would have run by now
        found = page.evaluate(INSPECT)
        check_inert(found, "all payloads")
        assert "<img src=x onerror=" in last_answer(page).locator(".thinking-text").text_content()
    finally:
        context.close()
