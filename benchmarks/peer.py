"""The peer: the same job done the usual way, so the function's figures read as ratios.

A plain FastAPI app on uvicorn (same loop and HTTP parser as the function: asyncio + h11),
one `AsyncAzureOpenAI` client built at start-up, and the SDK's parsed chunk iterator:
`async for chunk in await client.chat.completions.create(stream=True)`. It writes the same
NDJSON content lines as the function, so one load generator reads both.

    python -m benchmarks.peer --port 7072 --upstream http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import asyncio
import json

import httpx2
import openai
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from benchmarks._common import raise_fd_limit


def build_app(upstream: str) -> FastAPI:
    app = FastAPI()
    # Pool sized like the function's, so neither queues for a connection at high concurrency.
    limits = httpx2.Limits(max_connections=5000, max_keepalive_connections=100)
    http_client = openai.DefaultAsyncHttpxClient(limits=limits)
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=upstream, api_version="2024-10-21", api_key="sim-key", max_retries=0, http_client=http_client
    )

    @app.post("/api/chat/stream")
    async def chat_stream(request: Request) -> StreamingResponse:
        body = await request.json()
        stream = await client.chat.completions.create(
            model="chat-sim", messages=body["messages"], stream=True, stream_options={"include_usage": True}
        )

        async def lines():
            try:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                        delta = {"role": "assistant", "content": chunk.choices[0].delta.content}
                        yield json.dumps({"delta": delta}, separators=(",", ":")) + "\n"
                yield json.dumps({"delta": {"role": "assistant"}, "context": {}}) + "\n"
            finally:
                await stream.close()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    raise_fd_limit()
    config = uvicorn.Config(build_app(args.upstream), host="127.0.0.1", port=args.port, loop="asyncio", http="h11")
    print(f"Peer ready on http://127.0.0.1:{args.port}", flush=True)
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
