"""`python -m dev.simulator`: serve the simulator on a loopback port and say where."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket

import uvicorn

import dev.simulator
from dev.simulator.app import SimulatedCut, Simulator


class _HideSimulatedCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedCut))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dev.simulator",
        description=dev.simulator.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ttft-ms", type=float, default=50, help="silence before the role chunk / in_progress")
    parser.add_argument("--think-ms", type=float, default=0, help="then silence before the first reasoning or text")
    parser.add_argument("--token-ms", type=float, default=10)
    parser.add_argument("--tokens", type=int, default=30, help="length of the default answer")
    parser.add_argument("--reasoning", default=None, help="default reasoning summary text (none when absent)")
    parser.add_argument("--api-key", default="", help="require this key (any key or bearer token when empty)")
    args = parser.parse_args()
    app = Simulator(
        ttft_ms=args.ttft_ms,
        think_ms=args.think_ms,
        token_ms=args.token_ms,
        tokens=args.tokens,
        reasoning=args.reasoning,
        api_key=args.api_key,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(4096)
    logging.getLogger("uvicorn.error").addFilter(_HideSimulatedCuts())
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=4096)
    print(f"Azure OpenAI simulator ready on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
