"""The peer: the same job done the usual way, so the function's figures read as ratios.

A plain FastAPI app on uvicorn (same loop and HTTP parser as the function under test), one
`AsyncOpenAI` client on the v1 API built at start-up, and the SDK's parsed event iterator:
`async for event in await client.responses.create(stream=True)` (or `chat.completions` with
`--api chat_completions`). It writes the same NDJSON content lines as the function, so one load
generator reads both.

    python -m benchmarks.peer --port 7072 --upstream http://127.0.0.1:8000 --api responses
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from benchmarks._common import raise_fd_limit, use_uvloop


def _line(content: str) -> str:
    return json.dumps({"delta": {"role": "assistant", "content": content}}, separators=(",", ":")) + "\n"


async def _responses(client: openai.AsyncOpenAI, messages: list[dict[str, Any]]) -> AsyncIterator[str]:
    stream = await client.responses.create(
        model="chat-sim", input=messages, stream=True, store=False, max_output_tokens=4096
    )
    try:
        async for event in stream:
            if event.type == "response.output_text.delta" and event.delta:
                yield _line(event.delta)
    finally:
        await stream.close()


async def _chat(client: openai.AsyncOpenAI, messages: list[dict[str, Any]]) -> AsyncIterator[str]:
    stream = await client.chat.completions.create(
        model="chat-sim", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    try:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                yield _line(chunk.choices[0].delta.content)
    finally:
        await stream.close()


def build_app(upstream: str, api: str) -> FastAPI:
    app = FastAPI()
    # Pool sized like the function's, so neither queues for a connection at high concurrency.
    limits = httpx2.Limits(max_connections=5000, max_keepalive_connections=100)
    http_client = openai.DefaultAsyncHttpxClient(limits=limits)
    client = openai.AsyncOpenAI(
        base_url=f"{upstream}/openai/v1/", api_key="sim-key", max_retries=0, http_client=http_client
    )
    answer = _responses if api == "responses" else _chat

    @app.post("/api/chat/stream")
    async def chat_stream(request: Request) -> StreamingResponse:
        body = await request.json()

        async def lines() -> AsyncIterator[str]:
            async for line in answer(client, body["messages"]):
                yield line
            yield json.dumps({"delta": {"role": "assistant"}, "context": {}}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--api", choices=("responses", "chat_completions"), default="responses")
    args = parser.parse_args()
    raise_fd_limit()
    use_uvloop()  # the loop the 3.13 worker runs; uvloop is in the venv (the worker runtime's loop)
    config = uvicorn.Config(build_app(args.upstream, args.api), host="127.0.0.1", port=args.port, http="h11")
    print(f"Peer ready on http://127.0.0.1:{args.port}", flush=True)
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
