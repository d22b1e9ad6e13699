"""In-process micro-benchmarks of the relay's per-delta work, free of network noise.

Upstream bodies are recorded from the project's simulator (`dev.simulator`, driven in process
through its ASGI interface) for the request the app itself sends, so both upstream APIs are
measured on the bytes Azure's v1 API sends: Responses events (`event:` + `data:`, sequence
numbers, obfuscation) and Chat Completions chunks (filter results, obfuscation).

Per upstream API (`responses`, `chat_completions`):
- `decode`: `chat.upstream.sse.events` with the API's decoder, one upstream event per read,
  as the simulator (and Azure outside its burst mode) writes them;
- `relay`: the pump and body loops of `chat.relay` end to end, upstream events in, NDJSON lines
  out, with the network replaced by memory;
Shared: `encode`, `LineEncoder.text` for one delta. What opening an upstream stream costs needs a
socket (aiohttp has no in-memory transport): `python -m benchmarks.levers` measures it over
loopback, and the `request_cpu` scenario of `python -m benchmarks` end to end.

    python -m benchmarks.micro
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec

from chat.conversation import Conversation, Message
from chat.protocols.ai_chat import ChatRequest, LineEncoder
from chat.settings import Settings
from chat.telemetry import RequestRecord
from chat.upstream import APIS, sse
from dev.simulator import Simulator

API_NAMES = ("responses", "chat_completions")
PATHS = {"responses": "/openai/v1/responses", "chat_completions": "/openai/v1/chat/completions"}
CONVERSATION = Conversation((Message("user", "Tell me about streaming."),))


def settings_for(api: str, endpoint: str = "http://sim") -> Settings:
    return Settings(
        azure_openai_endpoint=endpoint,
        azure_openai_chat_deployment="chat-sim",
        azure_openai_api_key="sim-key",
        upstream_api=api,  # type: ignore[arg-type]
        max_output_tokens=1_000_000,  # the simulator caps the answer at it: the recorded bodies must be whole
    )


def record(api: str, tokens: int) -> list[bytes]:
    """The simulator's writes (one per event, as they reach the socket) for the app's request."""
    request = msgspec.json.encode(APIS[api].options(CONVERSATION, settings_for(api)))
    simulator = Simulator(ttft_ms=0, token_ms=0, tokens=tokens)
    sent: list[bytes] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": PATHS[api],
        "query_string": b"",
        "headers": [(b"api-key", b"sim-key"), (b"content-type", b"application/json")],
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": request, "more_body": False}
        await asyncio.Event().wait()  # the client never leaves
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            sent.append(message["body"])

    asyncio.run(simulator(scope, receive, send))
    return sent


def split_events(writes: list[bytes]) -> list[bytes]:
    """One event per read: the writes re-cut at each blank line (a write may carry several)."""
    out: list[bytes] = []
    for write in writes:
        out += [event + b"\n\n" for event in write.split(b"\n\n") if event]
    return out


async def _reads(reads: list[bytes]) -> AsyncIterator[bytes]:
    for read in reads:
        yield read


async def bench_decode(api: str, reads: list[bytes], deltas: int) -> float:
    decoder = APIS[api].Decoder
    began = time.perf_counter()
    async for _ in sse.events(_reads(reads), decoder()):
        pass
    return (time.perf_counter() - began) / deltas * 1e6


def bench_encode(count: int) -> float:
    encoder = LineEncoder(ChatRequest(CONVERSATION), RequestRecord(streaming=True))
    text = encoder.text
    began = time.perf_counter()
    for _ in range(count):
        text(" token")
    return (time.perf_counter() - began) / count * 1e6


class _MemoryReply:
    """A `chat.upstream.Reply` whose bytes come from memory."""

    def __init__(self, events: AsyncGenerator[Any]) -> None:
        self.events = events

    async def __aenter__(self) -> AsyncGenerator[Any]:
        return self.events

    async def __aexit__(self, *_: object) -> None:
        await self.events.aclose()

    def close(self) -> None:
        pass


class _MemoryUpstream:
    def __init__(self, api: str, reads: list[bytes]) -> None:
        self.decoder = APIS[api].Decoder
        self.reads = reads

    async def open(self, conversation: Conversation) -> _MemoryReply:
        return _MemoryReply(sse.events(_reads(self.reads), self.decoder()))


async def bench_relay(api: str, reads: list[bytes], deltas: int) -> float:
    from chat.relay import open_relay

    settings = settings_for(api)
    record_ = RequestRecord(streaming=True)
    encoder = LineEncoder(ChatRequest(CONVERSATION), record_)
    began = time.perf_counter()
    upstream: Any = _MemoryUpstream(api, reads)
    body = await open_relay(CONVERSATION, upstream, settings, encoder, record_)
    async for _ in body:
        pass
    return (time.perf_counter() - began) / deltas * 1e6


def run(deltas: int = 20_000, repeats: int = 5) -> dict[str, Any]:
    """Best of `repeats`: µs per delta (`decode`, `relay`, `encode`)."""
    logging.getLogger("chat.requests").setLevel(logging.WARNING)
    out: dict[str, Any] = {"encode_us": min(bench_encode(deltas) for _ in range(repeats))}
    for api in API_NAMES:
        reads = split_events(record(api, deltas))
        count = sum(1 for r in reads if b'"content":"' in r or b"output_text.delta" in r)  # the deltas there are
        out[api] = {
            "event_bytes": round(sum(len(r) for r in reads) / len(reads)),
            "deltas": count,
            "decode_us": min(asyncio.run(bench_decode(api, reads, count)) for _ in range(repeats)),
            "relay_us": min(asyncio.run(bench_relay(api, reads, count)) for _ in range(repeats)),
        }
    return out


def describe(results: dict[str, Any]) -> str:
    lines = [f"encode {results['encode_us']:.2f} µs/delta"]
    for api in API_NAMES:
        r = results[api]
        lines.append(f"{api}: decode {r['decode_us']:.2f} µs/delta, relay {r['relay_us']:.2f} µs/delta")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(run()))
