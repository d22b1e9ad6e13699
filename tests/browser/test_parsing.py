"""The page's stream parsers, run in Chromium on every way the network could cut the bytes."""

from __future__ import annotations

import json

from tests.browser.chat_page import open_chat
from tests.harness import Host

EVENTS = [
    {"delta": {"role": "assistant"}, "context": {"progress": "Generating answer…"}, "sessionState": None},
    {"delta": {"role": "assistant", "content": "Héllo 日本"}},
    {"delta": {"role": "assistant", "content": " 🚀✨ wörld"}},
    {"delta": {"role": "assistant"}, "context": {"finish_reason": "stop"}, "sessionState": {"k": 1}},
]


def ndjson() -> str:
    lines = [json.dumps(e, ensure_ascii=False) for e in EVENTS]
    return lines[0] + "\n\n" + lines[1] + "\n" + "\n" + lines[2] + "\r\n" + lines[3] + "\n"


def sse() -> str:
    blocks = [f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in EVENTS]
    return ": keep-alive\n\n" + blocks[0] + blocks[1] + ": keep-alive\n\n" + blocks[2] + blocks[3] + "data: [DONE]\n\n"


# Feeds the bytes through TextDecoderStream in two network chunks, for every cut point
# (including inside multi-byte characters), and collects the parsed events.
SPLIT_EVERYWHERE = """
async ([kind, text]) => {
  const { NdjsonParser, SseParser } = await import('/js/chat-client.js');
  const bytes = new TextEncoder().encode(text);
  const results = [];
  for (let cut = 0; cut <= bytes.length; cut += 1) {
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(bytes.slice(0, cut));
        controller.enqueue(bytes.slice(cut));
        controller.close();
      },
    }).pipeThrough(new TextDecoderStream());
    const parser = kind === 'sse' ? new SseParser() : new NdjsonParser();
    const reader = stream.getReader();
    const events = [];
    for (;;) {
      const { value, done } = await reader.read();
      events.push(...(done ? parser.end() : parser.push(value)));
      if (done) break;
    }
    results.push(JSON.stringify(events));
  }
  return results;
}
"""


def test_ndjson_lines_split_anywhere(page, host: Host) -> None:
    open_chat(page, host.url)
    results = page.evaluate(SPLIT_EVERYWHERE, ["ndjson", ndjson()])
    assert len(results) > 100
    assert {r for r in results} == {json.dumps(EVENTS, ensure_ascii=False, separators=(",", ":"))}


def test_sse_events_split_anywhere(page, host: Host) -> None:
    open_chat(page, host.url)
    results = page.evaluate(SPLIT_EVERYWHERE, ["sse", sse()])
    assert {r for r in results} == {json.dumps(EVENTS, ensure_ascii=False, separators=(",", ":"))}
    crlf = page.evaluate(SPLIT_EVERYWHERE, ["sse", sse().replace("\n", "\r\n")])
    assert set(crlf) == set(results)


def test_last_ndjson_line_without_newline_is_kept(page, host: Host) -> None:
    open_chat(page, host.url)
    text = ndjson().rstrip("\n")
    results = page.evaluate(SPLIT_EVERYWHERE, ["ndjson", text])
    assert json.loads(results[0]) == EVENTS


def test_pacer_reveals_whole_words(page, host: Host) -> None:
    open_chat(page, host.url)
    cuts = page.evaluate(
        """async () => {
            const { prefixOfWords } = await import('/js/pacer.js');
            const text = 'Hello, world! 日本語のテキスト and 🚀 emoji';
            return [1, 2, 3, 50].map((n) => text.slice(0, prefixOfWords(text, n)));
        }"""
    )
    assert cuts[0] == "Hello, "
    assert cuts[1] == "Hello, world! "
    assert cuts[2].startswith("Hello, world! 日") and len(cuts[2]) > len(cuts[1])
    assert cuts[3] == "Hello, world! 日本語のテキスト and 🚀 emoji"
