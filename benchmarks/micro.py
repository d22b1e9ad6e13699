"""In-process micro-benchmarks of the relay's per-delta work, free of network and scheduling noise.

- `chunks`: `chat.upstream._chunks` over an httpx2 response whose stream yields one upstream
  event per read, as the simulator (and Azure outside its burst mode) writes them;
- `encode`: `LineEncoder.content` for one delta;
- `relay`: the pump and body loops of `chat.streaming` end to end, upstream events in, NDJSON
  lines out, with the network replaced by memory;
- `request_sdk` / `request_raw`: CPU to open one upstream stream through the SDK's
  `with_streaming_response.create` versus the same POST sent with its httpx2 client directly
  (in-memory transport): the part of the added time to first token spent building the request.

    python -m benchmarks.micro
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any

import httpx2

from chat.protocol import ChatMessage, ChatRequest, LineEncoder
from chat.settings import Settings
from chat.telemetry import RequestRecord
from chat.upstream import _chunks

EVENT = (
    b'data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},'
    b'"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},'
    b'"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" token"},"finish_reason":null,'
    b'"index":0,"logprobs":null}],"created":1700000000,"id":"chatcmpl-0123456789abcdef01234567",'
    b'"model":"gpt-4o-mini-2024-07-18","object":"chat.completion.chunk","system_fingerprint":"fp_sim000001",'
    b'"usage":null}\n\n'
)
FINISH = (
    b'data: {"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0,'
    b'"logprobs":null}],"usage":null}\n\n'
    b'data: {"choices":[],"usage":{"completion_tokens":1,"prompt_tokens":1,"total_tokens":2}}\n\ndata: [DONE]\n\n'
)


class Events(httpx2.AsyncByteStream):
    def __init__(self, count: int) -> None:
        self.count = count

    async def __aiter__(self) -> Any:
        for _ in range(self.count):
            yield EVENT
        yield FINISH


def _response(count: int) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=Events(count))


async def bench_chunks(count: int) -> float:
    began = time.perf_counter()
    seen = 0
    async for _ in _chunks(_response(count)):
        seen += 1
    return (time.perf_counter() - began) / count * 1e6


def bench_encode(count: int) -> float:
    content = LineEncoder("ndjson").content
    began = time.perf_counter()
    for _ in range(count):
        content(" token")
    return (time.perf_counter() - began) / count * 1e6


class _MemoryUpstream:
    def __init__(self, count: int) -> None:
        self.count = count

    @asynccontextmanager
    async def stream(self, messages: Any) -> Any:
        yield _chunks(_response(self.count))


async def bench_relay(count: int) -> float:
    from chat.streaming import open_relay

    request = ChatRequest(messages=(ChatMessage("user", "hi"),))
    began = time.perf_counter()
    body = await open_relay(request, _MemoryUpstream(count), Settings(), LineEncoder("ndjson"), RequestRecord(True))  # type: ignore[arg-type]
    async for _ in body:
        pass
    return (time.perf_counter() - began) / count * 1e6


async def bench_request(count: int, raw: bool) -> float:
    """Per request: open a stream through the SDK (as `Upstream.stream` does) or send the same
    request with the SDK's own httpx2 client directly, against an in-memory transport."""
    import msgspec
    import openai

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=FINISH)

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    client = openai.AsyncAzureOpenAI(
        azure_endpoint="http://sim", api_version="2024-10-21", api_key="k", max_retries=0, http_client=http
    )
    messages = [{"role": "user", "content": "Tell me about streaming."}]
    url = "http://sim/openai/deployments/chat-sim/chat/completions?api-version=2024-10-21"
    headers = {"api-key": "k", "content-type": "application/json"}
    options = {"stream": True, "stream_options": {"include_usage": True}}
    began = time.perf_counter()
    for _ in range(count):
        if raw:
            body = msgspec.json.encode({"model": "chat-sim", "messages": messages, **options})
            response = await http.send(http.build_request("POST", url, content=body, headers=headers), stream=True)
            await response.aclose()
        else:
            create = client.chat.completions.with_streaming_response.create
            response = await create(model="chat-sim", messages=messages, **options).__aenter__()
            await response.close()
    return (time.perf_counter() - began) / count * 1e6


def run(count: int = 20_000, repeats: int = 5) -> dict[str, float]:
    """Best of `repeats`, µs per delta (per request for the `request_` figures)."""
    import logging

    logging.getLogger("chat.requests").setLevel(logging.WARNING)
    out = {
        "chunks_us": min(asyncio.run(bench_chunks(count)) for _ in range(repeats)),
        "encode_us": min(bench_encode(count) for _ in range(repeats)),
        "relay_us": min(asyncio.run(bench_relay(count)) for _ in range(repeats)),
        "request_sdk_us": min(asyncio.run(bench_request(300, raw=False)) for _ in range(repeats)),
        "request_raw_us": min(asyncio.run(bench_request(300, raw=True)) for _ in range(repeats)),
    }
    return out


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value:.2f}")
