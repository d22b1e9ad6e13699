"""The Azure OpenAI simulator, plus an out-of-band record of when it sent each content delta.

The wire format is untouched: a wrapper around the simulator's ASGI `send` notes, per request,
the monotonic time at which each content event was handed to the socket (uvicorn writes to the
transport inside `send`). Requests are told apart by a `[bench:<id>]` marker in the user message,
which the function forwards upstream unchanged. `GET /_bench/stamps` returns and clears them.

Both this process and the load generator read CLOCK_MONOTONIC (`time.monotonic_ns`), one clock
for the whole machine, so "arrival at the client minus send by the model" is a sound per-delta
latency even across processes.

    python -m benchmarks.simstamp --port 0 --ttft-ms 20 --token-ms 20 --tokens 500
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import time
from typing import Any

import msgspec
import uvicorn

from benchmarks._common import raise_fd_limit, use_uvloop
from dev.simulator import Simulator

MARKER = re.compile(rb"\[bench:([0-9a-z]+)\]")
# A content event of either API: a Chat Completions chunk (the role chunk's `"content":""` does not
# match, as the relay skips it too) or a Responses text delta.
CONTENT = re.compile(rb'"delta":\{"content":"[^"]|"type":"response\.output_text\.delta"')


class Stamping:
    def __init__(self, app: Simulator) -> None:
        self.app = app
        self.stamps: dict[str, list[int]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/_bench/stamps":
            body = msgspec.json.encode(self.stamps)
            self.stamps = {}
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        stamps: list[int] | None = None
        seen = False
        stamp_book = self.stamps

        async def receive_noting_marker() -> dict[str, Any]:
            nonlocal stamps, seen
            message = await receive()
            if not seen and message["type"] == "http.request":
                found = MARKER.search(message.get("body", b""))
                if found:
                    seen = True
                    stamps = stamp_book.setdefault(found.group(1).decode(), [])
            return message

        async def send_noting_time(message: dict[str, Any]) -> None:
            now = time.monotonic_ns()  # when the model emits it, before any socket work
            await send(message)
            if stamps is not None and message["type"] == "http.response.body":
                count = len(CONTENT.findall(message.get("body", b"")))
                if count:
                    stamps.extend([now] * count)

        await self.app(scope, receive_noting_marker, send_noting_time)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=20)
    parser.add_argument("--token-ms", type=float, default=20)
    parser.add_argument("--tokens", type=int, default=300)
    args = parser.parse_args()
    raise_fd_limit()
    use_uvloop()
    simulator = Simulator(ttft_ms=args.ttft_ms, token_ms=args.token_ms, tokens=args.tokens)
    simulator.keep_records = 2000
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(8192)
    config = uvicorn.Config(Stamping(simulator), log_level="warning", access_log=False, lifespan="off", backlog=8192)
    print(f"Azure OpenAI simulator ready on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
