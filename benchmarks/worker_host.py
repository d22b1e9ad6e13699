"""The function app served the way the Python 3.13+ worker serves it, for measuring.

What the 3.13 worker does and this repeats (Azure/azure-functions-python-worker, `workers/
proxy_worker/start_worker.py` and `dispatcher.py`, with the runtime `azure-functions-runtime`'s
`http_v2.py`):
- the event loop is uvloop (`start_worker.py` sets `uvloop.EventLoopPolicy()` before
  `asyncio.run`; uvloop is a worker dependency for Python >= 3.13);
- the dispatcher installs a task factory that makes every task a `Task` subclass with a Python
  `__init__` (`ContextEnabledTask`: it copies the invocation id from the current task), so every
  task the relay or uvicorn creates pays for it;
- the extension's own `WebServer.serve()` runs as a task on that loop with uvicorn's defaults:
  `http="auto"`, which is httptools when the app's packages include it (requirements.txt does)
  and h11 otherwise (`--h11` hides httptools: the what-if of an app that does not list it);
- logs at INFO go to a handler that formats each record and queues it for the gRPC thread
  (`AsyncLoggingHandler`); here a thread drains the queue to nowhere.
Not repeated: the gRPC hop and the runtime's `invocation_request` per call (its `HttpCoordinator`
pairs the proxied request with the host's invocation message); the catch-all route here calls the
function directly. `python -m dev.host` runs the whole runtime path behind an emulated host.
`benchmarks.floor` serves its two no-app floors through the same `serve()`.

    python -m benchmarks.worker_host --port 7071
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from benchmarks._common import ROOT, raise_fd_limit, use_uvloop

STARTED = time.monotonic()
GC_REPORT: dict[str, float] = {}
INVOCATION_ID = "__azure_function_invocation_id__"


class ContextEnabledTask(asyncio.Task):  # type: ignore[type-arg]
    """Same shape as the worker's task subclass: a Python-level `__init__` on every task."""

    def __init__(self, coro, loop, context=None, **kwargs) -> None:
        super().__init__(coro, loop=loop, context=context, **kwargs)
        current = asyncio.current_task(loop)
        if current is not None:
            invocation = getattr(current, INVOCATION_ID, None)
            if invocation is not None:
                setattr(self, INVOCATION_ID, invocation)


class QueuedLogHandler(logging.Handler):
    """Like the worker's `AsyncLoggingHandler`: format on the loop, hand the message to another thread."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: queue.SimpleQueue[tuple[int, str, str]] = queue.SimpleQueue()
        threading.Thread(target=self._drain, daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.put_nowait((record.levelno, record.name, self.format(record)))

    def _drain(self) -> None:
        while True:
            self.messages.get()


Routes = dict[tuple[str, str], Callable[[Request], Awaitable[Any]]]


def app_routes(prefix: str) -> Routes:
    """(method, path) -> the function, from the app's own index (its routes have no parameters)."""
    import function_app

    routes = {}
    for function in function_app.app.get_functions():
        trigger = function.get_trigger()
        handler = function.get_user_function()
        for method in trigger.methods or ("GET", "POST"):
            routes[(getattr(method, "value", str(method)), f"/{prefix}/{trigger.route}")] = handler
    return routes


async def _serve(port: int, make_routes: Callable[[str], Routes]) -> None:
    from azurefunctions.extensions.http.fastapi import WebApp, WebServer
    from fastapi.responses import Response

    loop = asyncio.get_running_loop()
    loop.set_task_factory(lambda loop, coro, context=None, **kw: ContextEnabledTask(coro, loop, context, **kw))
    prefix = json.loads((ROOT / "host.json").read_text())["extensions"]["http"]["routePrefix"]
    routes = make_routes(prefix)  # inside the loop, with the task factory set, as the worker indexes the app
    web_app = WebApp()

    async def catch_all(req: Request) -> Any:  # the runtime's catch-all takes FastAPI's Request too
        handler = routes.get((req.method, req.url.path))
        return Response(status_code=404) if handler is None else await handler(req)

    web_app.route(catch_all)
    server = asyncio.ensure_future(WebServer("127.0.0.1", port, web_app).serve())
    while not server.done():
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            print(f"Local Functions host ready on http://127.0.0.1:{port}", flush=True)
            if GC_REPORT:
                GC_REPORT.clear()  # only what serving costs
            break
        except OSError:
            await asyncio.sleep(0.05)
    await server


def _report_gc() -> None:
    import atexit
    import gc
    import signal

    began = [0.0]
    GC_REPORT["on"] = 1

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.process_time()
        else:
            generation = info["generation"]
            GC_REPORT[f"gen{generation} collections"] = GC_REPORT.get(f"gen{generation} collections", 0) + 1
            GC_REPORT[f"gen{generation} cpu ms"] = (
                GC_REPORT.get(f"gen{generation} cpu ms", 0) + (time.process_time() - began[0]) * 1000
            )

    gc.callbacks.append(note)
    atexit.register(lambda: print(f"gc: {GC_REPORT}", flush=True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every process served this way takes (the function's and the floors')."""
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--gc-report", action="store_true", help="print the time spent in garbage collection at exit")
    parser.add_argument("--h11", action="store_true", help="hide httptools, so uvicorn's `auto` serves with h11")
    return parser


def serve(args: argparse.Namespace, make_routes: Callable[[str], Routes]) -> None:
    """Serve `make_routes(prefix)` the way the 3.13 worker serves the function app, until stopped."""
    if args.gc_report:
        _report_gc()
    if args.h11:
        sys.modules["httptools"] = None  # type: ignore[assignment] - an import of it now fails, as if not installed
    raise_fd_limit()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    logging.basicConfig(level=logging.INFO, handlers=[QueuedLogHandler()])
    if args.loop == "uvloop" and not use_uvloop():
        raise SystemExit("uvloop is not installed: the 3.13 worker runs on it (pip install -r requirements-dev.txt)")
    asyncio.run(_serve(args.port, make_routes))


def main() -> None:
    serve(arguments(argparse.ArgumentParser()).parse_args(), app_routes)


if __name__ == "__main__":
    main()
