"""The floors: a stream served on the worker's own stack with no app code, to stand beside the function.

Both are served by `benchmarks.worker_host.serve`, exactly as the function is (uvloop, the
worker's `ContextEnabledTask` factory and queued log handler, the FastAPI extension's `WebApp`
catch-all route and `WebServer` with uvicorn's defaults), on the function's route,
`POST /api/chat/stream`, writing the function's NDJSON content lines, so the load generator
reads them unchanged. What is left out is the app: whatever either costs, the app cannot undercut.

- `platform`: a `StreamingResponse` of the reply's content lines, encoded at start-up, with no
  upstream: the web stack the Functions worker imposes (`azurefunctions-extensions-http-fastapi`,
  i.e. FastAPI and Starlette on uvicorn and h11). Lines are paced as the simulator paces its
  events (`--ttft-ms` before the first, `--token-ms` between the others, same sleeps), so per
  delta it pays one timer wake-up, the cheapest wake-up a streaming app can have; a relay pays
  a socket read instead. Per `[bench:<id>]` marker it notes when each content line was *due*
  (the end of the sleep before it, on the monotonic clock) and answers `GET /_bench/stamps`
  with them, so its per-delta latency is paired like everyone else's and a busy loop shows:
  a timer that fires late is this process's own lag, where the simulator's lag is not the
  function's. (It paces as the simulator does, each sleep from the last line, so a lagging loop
  also offers fewer lines per second: the delivered rate says how many.)
- `bare-relay`: the least any relay must do. One aiohttp session (the client the app's transport
  uses, with its cheap options and an unlimited connector) made at start; per request, the
  client's messages spliced into the very body the app sends upstream (`--body`, from
  `benchmarks.run.direct_body`) and POSTed to the simulator's v1 endpoint, SSE `data:` lines
  split from each read, each event msgspec-decoded, each text delta encoded as a content line,
  and a read's lines written at once as one chunk (as the function writes lines already
  waiting). No limits, telemetry, SDK, httpx2, heartbeats, queue, retries or error mapping.
  `--burn-ms` spins the CPU that long per request before the POST: a relay that costs that much
  more per request, to calibrate how a burst's time to first content grows with CPU per request.

    python -m benchmarks.floor platform --port 7073 --ttft-ms 20 --token-ms 20 --tokens 300
    python -m benchmarks.floor bare-relay --port 7074 --api responses \\
        --url http://127.0.0.1:8000/openai/v1/responses --body "$(cat upstream-body.json)"
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import msgspec
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from benchmarks.worker_host import Routes, arguments, serve

CONTENT_PREFIX = b'{"delta":{"role":"assistant","content":'
CONTENT_SUFFIX = b"}}\n"
CLOSING = b'{"delta":{"role":"assistant"},"context":{}}\n'
NDJSON = "application/x-ndjson"
MARKER = re.compile(rb"\[bench:([0-9a-z]+)\]")


def content_line(text: str) -> bytes:
    return CONTENT_PREFIX + msgspec.json.encode(text) + CONTENT_SUFFIX


# --------------------------------------------------------------------------------------------
# platform: the web stack alone


def platform_routes(ttft_ms: float, token_ms: float, tokens: int) -> Callable[[str], Routes]:
    from dev.simulator.rules import Rule, plan_answer

    pieces = plan_answer(Rule(tokens=tokens), cap=None, show_reasoning=False, summary_parts=False).answer
    lines = [content_line(piece) for piece in pieces]
    first, between = ttft_ms / 1000, token_ms / 1000
    stamps: dict[str, list[int]] = {}

    async def reply(stamped: list[int] | None) -> AsyncIterator[bytes]:
        due = time.monotonic_ns() + int(first * 1e9)
        await asyncio.sleep(first)
        for index, line in enumerate(lines):
            if index:
                due = time.monotonic_ns() + int(between * 1e9)
                await asyncio.sleep(between)
            if stamped is not None:
                stamped.append(due)
            yield line
        yield CLOSING

    async def chat_stream(req: Request) -> StreamingResponse:
        found = MARKER.search(await req.body())
        stamped = stamps.setdefault(found.group(1).decode(), []) if found else None
        return StreamingResponse(reply(stamped), media_type=NDJSON)

    async def take_stamps(req: Request) -> Response:
        body = msgspec.json.encode(stamps)
        stamps.clear()
        return Response(body, media_type="application/json")

    def routes(prefix: str) -> Routes:
        return {("POST", f"/{prefix}/chat/stream"): chat_stream, ("GET", "/_bench/stamps"): take_stamps}

    return routes


# --------------------------------------------------------------------------------------------
# bare-relay: the least any relay must do


class _Ask(msgspec.Struct):
    messages: msgspec.Raw


class _ResponsesEvent(msgspec.Struct):
    type: str = ""
    delta: Any = None


class _Delta(msgspec.Struct):
    content: Any = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None


class _Chunk(msgspec.Struct):
    choices: list[_Choice] = []


_decode_ask = msgspec.json.Decoder(_Ask).decode
_decode_event = msgspec.json.Decoder(_ResponsesEvent).decode
_decode_chunk = msgspec.json.Decoder(_Chunk).decode
TEXT_DELTA = "response.output_text.delta"


def _responses_text(payload: bytes) -> str | None:
    event = _decode_event(payload)
    return event.delta if event.type == TEXT_DELTA and isinstance(event.delta, str) else None


def _chat_text(payload: bytes) -> str | None:
    if payload == b"[DONE]":
        return None
    chunk = _decode_chunk(payload)
    if chunk.choices and chunk.choices[0].delta is not None and isinstance(chunk.choices[0].delta.content, str):
        return chunk.choices[0].delta.content or None
    return None


def _burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def bare_relay_routes(api: str, url: str, body: str, burn_ms: float = 0.0) -> Callable[[str], Routes]:
    template: dict[str, Any] = msgspec.json.decode(body)
    key = "input" if api == "responses" else "messages"
    text_of = _responses_text if api == "responses" else _chat_text
    headers = {"api-key": "sim-key", "content-type": "application/json"}
    encode = msgspec.json.Encoder().encode

    async def lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        try:
            pending = b""
            async for data in response.content.iter_any():
                split = (pending + data).split(b"\n")
                pending = split.pop()
                out = b""
                for line in split:
                    if line.startswith(b"data:"):
                        text = text_of(line[5:].strip())
                        if text:
                            out += content_line(text)
                if out:
                    yield out
            yield CLOSING
        finally:
            # Dropping a connection not read to its end is what stops the model when the client leaves.
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    def routes(prefix: str) -> Routes:
        session = aiohttp.ClientSession(  # made on the running loop, once per process
            connector=aiohttp.TCPConnector(limit=0),
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

        async def chat_stream(req: Request) -> StreamingResponse:
            if burn_ms:
                _burn(burn_ms / 1000)
            ask = _decode_ask(await req.body())
            upstream = await session.post(url, data=encode({**template, key: ask.messages}), headers=headers)
            return StreamingResponse(lines(upstream), media_type=NDJSON)

        return {("POST", f"/{prefix}/chat/stream"): chat_stream}

    return routes


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = arguments(argparse.ArgumentParser(description=__doc__, formatter_class=formatter))
    parser.add_argument("kind", choices=("platform", "bare-relay"))
    parser.add_argument("--ttft-ms", type=float, default=0, help="platform: before the first line")
    parser.add_argument("--token-ms", type=float, default=0, help="platform: between lines")
    parser.add_argument("--tokens", type=int, default=1, help="platform: content lines per reply")
    parser.add_argument("--api", choices=("responses", "chat_completions"), default="responses")
    parser.add_argument("--url", help="bare-relay: the upstream endpoint")
    parser.add_argument("--body", help="bare-relay: the upstream request body (JSON) the app sends")
    parser.add_argument("--burn-ms", type=float, default=0.0, help="bare-relay: CPU to spin per request")
    args = parser.parse_args()
    if args.kind == "platform":
        serve(args, platform_routes(args.ttft_ms, args.token_ms, args.tokens))
    elif not args.url or not args.body:
        parser.error("bare-relay needs --url and --body")
    else:
        serve(args, bare_relay_routes(args.api, args.url, args.body, args.burn_ms))


if __name__ == "__main__":
    main()
