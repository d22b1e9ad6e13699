"""The function app served the way the Functions Python worker (3.11) serves it, for measuring.

What the worker does and this repeats (Azure/azure-functions-python-worker, `main.py`,
`dispatcher.py`, `http_v2.py`):
- the event loop is `asyncio.run`'s default (the selector loop: no uvloop on Python 3.11;
  uvloop is a worker dependency only for 3.13+, in `proxy_worker`);
- the dispatcher installs a task factory that makes every task a `Task` subclass with a
  Python `__init__` (it copies the invocation id from the current task) — every task the
  relay or uvicorn creates pays for it;
- the extension's own `WebServer.serve()` runs as a task on that loop, with uvicorn's
  defaults: `http="auto"`, which is h11 unless the app's packages include httptools;
- logs go through a handler at INFO (the worker ships them over gRPC; here to /dev/null).

It reuses `dev.host` for indexing and the catch-all route, so the code path is the same one
`make run` serves.

    python -m benchmarks.worker_host --port 7071
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from benchmarks._common import ROOT, raise_fd_limit

STARTED = time.monotonic()


class InvocationTask(asyncio.Task):  # type: ignore[type-arg]
    """Same shape as the worker's task subclass: a Python-level `__init__` on every task."""

    def __init__(self, coro, loop, context=None) -> None:
        super().__init__(coro, loop=loop, context=context)
        current = asyncio.current_task(loop)
        if current is not None:
            invocation = getattr(current, "invocation_id", None)
            if invocation is not None:
                self.invocation_id = invocation


async def _serve(port: int) -> None:
    from dev import host

    loop = asyncio.get_running_loop()
    loop.set_task_factory(lambda loop, coro, context=None: InvocationTask(coro, loop, context))
    routes = host.index_http_functions("function_app", host.route_prefix(ROOT))
    web_app = host.build_web_app(routes, {}, None)
    await host.serve(web_app, "127.0.0.1", port, f"Local Functions host ready on http://127.0.0.1:{port}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
