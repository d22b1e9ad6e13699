"""`python -m dev.host`: start the worker runtime, then serve HTTP in front of it as the host does."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import signal
import socket
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import uvicorn
import uvloop

from dev.functions_host.config import ConfigError, HostConfig, cors_origins, load_local_settings
from dev.functions_host.forwarder import Forwarder
from dev.functions_host.kestrel import REQUEST_HEADERS_TIMEOUT, with_head_deadline
from dev.functions_host.routes import RouteError, build_routes
from dev.functions_host.server import DropStreamAborted, FunctionsHost, StaticSite

ROOT = Path(__file__).resolve().parent.parent.parent
log = logging.getLogger("Host.Startup")


class StartupError(Exception):
    """Start-up stopped: the message says why, in the host's or the runtime's words."""


class HostLogFormatter(logging.Formatter):
    """`[2026-12-01T10:00:00.123Z] message`, as Core Tools prints the host's and the worker's logs."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def _app_location(module: str) -> tuple[Path, str]:
    """The app's folder and script file name, as the worker finds them (PYTHON_SCRIPT_FILE_NAME)."""
    if module == "function_app":
        return ROOT, "function_app.py"
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise StartupError(f"No module named '{module}' on the path")
    origin = Path(spec.origin)
    return origin.parent, origin.name


class FrontServer(uvicorn.Server):
    """uvicorn without its signal capture (the host handles signals for both servers), saying when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    def capture_signals(self) -> AbstractContextManager[None]:  # type: ignore[override]
        return nullcontext()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


async def _wait_until_listening(uri: str) -> None:
    host, port = uri.removeprefix("http://").rsplit(":", 1)
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection(host, int(port))
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.025)
    raise StartupError(f"the worker's HTTP server at {uri} did not start listening")


async def serve(args: argparse.Namespace, app_directory: Path, settings: dict[str, object]) -> None:
    from dev.functions_host.worker import Worker, WorkerStartError

    config = HostConfig.read(app_directory)
    worker = Worker(app_directory)
    try:
        await worker.start()
    except WorkerStartError as error:
        raise StartupError(str(error)) from None
    if not worker.http_uri:
        raise StartupError(
            "The worker did not offer HTTP proxying (no HttpUri capability): this host serves only apps that "
            "import azurefunctions.extensions.http.fastapi (HTTP streaming)."
        )
    await _wait_until_listening(worker.http_uri)
    runtime_server = _runtime_http_server()
    logging.getLogger("uvicorn.error").addFilter(DropStreamAborted())
    try:
        table = build_routes(config.route_prefix, [(f.function_id, f.name, f.raw_bindings) for f in worker.functions])
    except RouteError as error:
        raise StartupError(str(error)) from None
    base = f"http://{args.host}:{args.port}"
    print(f"Worker: {worker.describe()}\n\nFunctions:\n", flush=True)
    for route in table:
        methods = ",".join(sorted(route.methods)) if len(route.methods) < 8 else "GET,POST,..."
        print(f"        {route.function_name}: [{methods}] {base}/{route.template}", flush=True)
    print(flush=True)

    async with Forwarder(worker.http_uri) as forwarder:
        app: object = FunctionsHost(
            worker, table, forwarder, config.function_timeout, StaticSite(args.web) if args.web else None
        )
        origins, credentials = cors_origins(settings)
        if origins:
            from starlette.middleware.cors import CORSMiddleware

            app = CORSMiddleware(
                app,  # type: ignore[arg-type]
                allow_origins=origins,
                allow_credentials=credentials,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["x-request-id", "retry-after"],
            )
        server = FrontServer(
            uvicorn.Config(
                app,  # type: ignore[arg-type]
                host=args.host,
                port=args.port,
                lifespan="off",
                proxy_headers=False,  # the client's own address goes into X-Forwarded-For, not a claimed one
                http=with_head_deadline(args.request_headers_timeout),
                server_header=False,
                date_header=False,
                access_log=False,
                timeout_graceful_shutdown=5,
                log_config=None,
            )
        )
        loop = asyncio.get_running_loop()

        def stop(*_: object) -> None:
            server.force_exit = server.should_exit
            server.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        front = asyncio.create_task(server.serve())
        listening = asyncio.create_task(server.listening.wait())
        await asyncio.wait({front, listening}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if server.started:
            print(f"Local Functions host ready on {base} (API at {base}/{config.route_prefix}/)", flush=True)
        await front
    # Stop the runtime's HTTP server as uvicorn stops on a signal, and let what still runs finish.
    if runtime_server is not None:
        runtime_server.should_exit = True
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=5)
    worker.stop()


def _runtime_http_server() -> uvicorn.Server | None:
    """The runtime's uvicorn server, found through the signal handler it installed when it started.

    The runtime keeps no reference to it; without one it could only be cancelled at exit, which
    Starlette reports as a lifespan traceback.
    """
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    return server if isinstance(server, uvicorn.Server) else None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m dev.host", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7071")))
    parser.add_argument("--app", default="function_app", help="module that defines the FunctionApp")
    parser.add_argument("--web", type=Path, help="folder of a static frontend to serve at /")
    parser.add_argument("--settings", type=Path, default=ROOT / "local.settings.json", help="local.settings.json")
    parser.add_argument(
        "--request-headers-timeout",
        type=float,
        default=REQUEST_HEADERS_TIMEOUT,
        help="seconds for a request line and headers, then 408 (Kestrel's RequestHeadersTimeout)",
    )
    args = parser.parse_args()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(HostLogFormatter("[%(asctime)s] %(message)s"))
    handler.addFilter(DropStreamAborted())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    if args.web is not None:
        args.web = args.web.resolve()
    try:
        app_directory, script = _app_location(args.app)
        os.environ["PYTHON_SCRIPT_FILE_NAME"] = script
        settings = load_local_settings(args.settings.resolve())
        os.chdir(app_directory)
        # The 3.13+ worker runs on uvloop (proxy_worker/start_worker.py); so does this host.
        asyncio.run(serve(args, app_directory, settings), loop_factory=uvloop.new_event_loop)
    except (StartupError, ConfigError) as error:
        print(error, file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass
