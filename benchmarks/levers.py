"""CPU per upstream call, client side, for each way of opening a stream that issue #14 weighed.

Each variant opens a stream to the simulator over loopback (its own process, one-delta answers),
reads it through the app's decoder and closes it, on uvloop as the 3.13 worker runs; the figure
is this process's CPU time per call (`time.process_time`), so other load on the machine inflates
it less than wall time. Variants, from the SDK's default path to the floor:

- `sdk_httpcore2`: `responses.with_streaming_response.create` on the SDK's default transport;
- `sdk_aiohttp`: the same call on the SDK's own aiohttp client (`openai.DefaultAioHttpClient`);
- `sdk_post_aiohttp`: the SDK's generic `post` (no parameter transformation) on that client;
- `app`: the app's `Upstream.stream` (request built once per worker from the SDK client's
  configuration, sent with aiohttp, `chat.upstream.transport`);
- `aiohttp_only`: aiohttp alone, no httpx2 and no SDK: the floor.

    python -m benchmarks.levers [--api responses] [--calls 400]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx2
import msgspec
import openai
from openai._constants import RAW_RESPONSE_HEADER

from benchmarks._common import use_uvloop
from benchmarks.micro import CONVERSATION, settings_for
from chat.upstream import APIS, build_upstream, sse


def _sdk(base: str, aiohttp_client: bool) -> openai.AsyncOpenAI:
    timeout = httpx2.Timeout(300, connect=10)
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
    make = openai.DefaultAioHttpClient if aiohttp_client else openai.DefaultAsyncHttpxClient
    http = make(timeout=timeout, limits=limits)
    return openai.AsyncOpenAI(base_url=f"{base}/openai/v1/", api_key="sim-key", max_retries=0, http_client=http)


Call = Callable[[], Awaitable[Any]]


def variants(base: str, api: str, closing: list[Call]) -> dict[str, Call]:
    module = APIS[api]
    settings = settings_for(api, base)
    options = module.options
    path = "/" + module.PATH

    async def drain(chunks: AsyncIterator[bytes]) -> None:
        async for _ in sse.events(chunks, module.Decoder()):
            pass

    def sdk_create(client: openai.AsyncOpenAI) -> Callable[[], Awaitable[None]]:
        closing.append(client.close)
        resource = client.responses if api == "responses" else client.chat.completions
        create: Any = resource.with_streaming_response.create

        async def call() -> None:
            async with create(**options(CONVERSATION, settings)) as response:
                await drain(response.http_response.aiter_bytes())

        return call

    def sdk_post(client: openai.AsyncOpenAI) -> Callable[[], Awaitable[None]]:
        closing.append(client.close)

        async def call() -> None:
            response: httpx2.Response = await client.post(
                path,
                body=options(CONVERSATION, settings),
                cast_to=httpx2.Response,
                stream=True,
                options={"headers": {RAW_RESPONSE_HEADER: "stream"}},
            )
            try:
                await drain(response.aiter_bytes())
            finally:
                await response.aclose()

        return call

    upstream = build_upstream(settings)
    closing.append(upstream.http.aclose)

    async def app() -> None:
        async with upstream.stream(CONVERSATION) as events:
            async for _ in events:
                pass

    session: list[aiohttp.ClientSession] = []
    url = f"{base}/openai/v1{path}"

    async def aiohttp_only() -> None:
        if not session:
            session.append(aiohttp.ClientSession())
            closing.append(session[0].close)
        body = msgspec.json.encode(options(CONVERSATION, settings))
        headers = {"api-key": "sim-key", "content-type": "application/json"}
        async with session[0].post(url, data=body, headers=headers) as response:
            await drain(response.content.iter_any())

    return {
        "sdk_httpcore2": sdk_create(_sdk(base, aiohttp_client=False)),
        "sdk_aiohttp": sdk_create(_sdk(base, aiohttp_client=True)),
        "sdk_post_aiohttp": sdk_post(_sdk(base, aiohttp_client=True)),
        "app": app,
        "aiohttp_only": aiohttp_only,
    }


async def measure(base: str, api: str, calls: int, rounds: int = 3) -> dict[str, float]:
    """Best of `rounds` (interleaved, so drift hits every variant alike): µs of CPU per call."""
    closing: list[Call] = []
    calls_by_name = variants(base, api, closing)
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, call in calls_by_name.items():
            for _ in range(20):  # warm: connections open, caches filled
                await call()
            began = time.process_time()
            for _ in range(calls):
                await call()
            best[name] = min(best.get(name, float("inf")), (time.process_time() - began) / calls * 1e6)
    for close in closing:
        await close()
    return best


def run(api: str = "responses", calls: int = 400) -> dict[str, float]:
    from benchmarks import run as scenarios

    sim = scenarios.start_simulator(ttft_ms=0, token_ms=0, tokens=1)
    try:
        use_uvloop()
        return asyncio.run(measure(sim.url, api, calls))
    finally:
        sim.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", choices=tuple(APIS), default="responses")
    parser.add_argument("--calls", type=int, default=400)
    arguments = parser.parse_args()
    for variant, us in run(arguments.api, arguments.calls).items():
        print(f"{variant:>18}: {us:6.0f} µs CPU per call")
