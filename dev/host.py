"""A local Functions host for the HTTP streaming path, where Core Tools (`func start`) is missing.

It serves `function_app.py` the way the Python worker does in production once the
`azurefunctions-extensions-http-fastapi` extension is imported: the extension's own `WebApp`
(FastAPI) gets one catch-all route, and the extension's own `WebServer` (uvicorn) serves it.
What the Functions host adds in front is emulated here: the route prefix from host.json,
route templates and methods from the function metadata, CORS from local.settings.json
`Host.CORS`, and `Values` loaded into the environment (the real environment wins).

    python -m dev.host            # port 7071, or PORT
    python -m dev.host --web web  # also serve the static frontend at /

Like the worker, it refuses to start when indexing fails (for example a classic
`func.HttpRequest` annotation next to the extension).
"""

import argparse
import asyncio
import importlib
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

import azure.functions as func
from azurefunctions.extensions.base import HttpV2FeatureChecker, RequestTrackerMeta, ResponseTrackerMeta
from azurefunctions.extensions.http.fastapi import Request, RequestSynchronizer, WebApp, WebServer
from fastapi.responses import JSONResponse, Response
from starlette.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("dev.host")


class IndexingError(Exception):
    """The app would fail to index in the Python worker."""


@dataclass(frozen=True)
class HttpRoute:
    name: str
    template: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Callable[..., Any]
    request_param: str


def load_local_settings(path: Path) -> dict[str, Any]:
    """Put local.settings.json `Values` into the environment; the real environment wins, as in Core Tools."""
    if not path.exists():
        return {}
    settings = json.loads(path.read_text(encoding="utf-8"))
    for key, value in (settings.get("Values") or {}).items():
        os.environ.setdefault(key, str(value))
    return settings


def route_prefix(root: Path) -> str:
    host = json.loads((root / "host.json").read_text(encoding="utf-8"))
    prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return prefix.strip("/")


def compile_route(prefix: str, template: str) -> re.Pattern[str]:
    """An ASP.NET-style route template (`chat/{id}`, `{id:int}`, `{*rest}`, `{opt?}`) as a regex."""
    parts = []
    for segment in template.strip("/").split("/"):
        param = re.fullmatch(r"\{(\*)?(\w+)(?::\w+)?(\?)?\}", segment)
        if param:
            star, name, optional = param.groups()
            body = f"(?P<{name}>.+)" if star else f"(?P<{name}>[^/]+)"
            parts.append(f"(?:/{body})?" if optional or star else f"/{body}")
        else:
            parts.append("/" + re.escape(segment))
    base = "/" + prefix if prefix else ""
    return re.compile(re.escape(base) + "".join(parts) + "/?", re.IGNORECASE)


def index_http_functions(module_name: str, prefix: str) -> list[HttpRoute]:
    """Import the app and index its HTTP functions with the worker's type rules."""
    module = importlib.import_module(module_name)
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(apps) != 1:
        raise IndexingError(f"{module_name}.py must define exactly one FunctionApp, found {len(apps)}")
    if not HttpV2FeatureChecker.http_v2_enabled():
        raise IndexingError("the HTTP streaming extension is not imported: this host serves only that path")

    routes = []
    for function in apps[0].get_functions():
        name = function.get_function_name()
        trigger = function.get_trigger()
        if trigger is None or trigger.get_binding_name() != "httpTrigger":
            log.warning("skipping %s: only HTTP functions are served locally", name)
            continue
        handler = function.get_user_function()
        hints = get_type_hints(handler)
        param = trigger.name
        if not RequestTrackerMeta.check_type(hints.get(param)):
            raise IndexingError(
                f'cannot load the {name} function: type of {param} binding "httpTrigger" does not match its '
                f'Python annotation "{getattr(hints.get(param), "__name__", hints.get(param))}"'
            )
        returned = hints.get("return")
        if returned is not None and not ResponseTrackerMeta.check_type(returned):
            raise IndexingError(
                f'cannot load the {name} function: its return annotation "{returned}" is not an HTTP response type'
            )
        methods = frozenset(m.value if hasattr(m, "value") else str(m) for m in (trigger.methods or []))
        template = trigger.route or name
        routes.append(
            HttpRoute(
                name,
                f"/{prefix}/{template}",
                methods or frozenset({"GET", "POST"}),
                compile_route(prefix, template),
                handler,
                param,
            )
        )
    return routes


def build_web_app(routes: list[HttpRoute], cors: dict[str, Any], web_dir: Path | None) -> Any:
    """The extension's WebApp with the worker's single catch-all route, plus the host's CORS."""
    web_app = WebApp()
    synchronizer = RequestSynchronizer()
    static = StaticFiles(directory=web_dir, html=True) if web_dir else None
    # The headers Static Web Apps adds in Azure (CSP and friends), so the page runs locally as deployed.
    swa_config = web_dir / "staticwebapp.config.json" if web_dir else None
    page_headers = (
        json.loads(swa_config.read_text()).get("globalHeaders", {}) if swa_config and swa_config.exists() else {}
    )

    async def catch_all(request: Request) -> Any:
        path = request.url.path
        matched = [(route, m) for route in routes if (m := route.pattern.fullmatch(path))]
        if not matched:
            if static is not None and request.method in ("GET", "HEAD"):
                response = await static.get_response(path.lstrip("/") or ".", request.scope)
                response.headers.update(page_headers)
                return response
            return Response(status_code=404)
        allowed = [(route, m) for route, m in matched if request.method in route.methods]
        if not allowed:
            return JSONResponse({"error": {"code": "method_not_allowed", "message": "Method not allowed."}}, 405)
        route, match = allowed[0]
        synchronizer.sync_route_params(request, {k: v for k, v in match.groupdict().items() if v is not None})
        return await _call(route.handler, {route.request_param: request})

    web_app.route(catch_all)
    app = web_app.get_app()
    # Core Tools reads Host.CORS; ALLOWED_ORIGINS is the same list as an app setting.
    listed = str(cors.get("CORS") or os.environ.get("ALLOWED_ORIGINS", ""))
    origins = [o.strip() for o in listed.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=bool(cors.get("CORSCredentials")),
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["x-request-id", "retry-after"],
        )
    return web_app


async def _call(handler: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    result = handler(**kwargs)
    return await result if isinstance(result, Awaitable) else result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def serve(web_app: Any, host: str, port: int, ready_message: str) -> None:
    """Serve with the extension's own WebServer on this event loop, as the worker does."""
    server = asyncio.ensure_future(WebServer(host, port, web_app).serve())
    while not server.done():
        try:
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            print(ready_message, flush=True)
            break
        except OSError:
            await asyncio.sleep(0.05)
    await server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7071")))
    parser.add_argument("--app", default="function_app", help="module that defines the FunctionApp")
    parser.add_argument("--web", type=Path, help="folder of a static frontend to serve at /")
    parser.add_argument(
        "--settings", type=Path, default=ROOT / "local.settings.json", help="local.settings.json to load"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    local = load_local_settings(args.settings)
    prefix = route_prefix(ROOT)
    try:
        routes = index_http_functions(args.app, prefix)
    except IndexingError as error:
        print(f"Worker failed to index functions: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    for route in routes:
        print(f"  {route.name}: [{','.join(sorted(route.methods))}] http://{args.host}:{args.port}{route.template}")
    web_app = build_web_app(routes, local.get("Host") or {}, args.web)
    base = f"http://{args.host}:{args.port}"
    asyncio.run(serve(web_app, args.host, args.port, f"Local Functions host ready on {base} (API at {base}/{prefix}/)"))


if __name__ == "__main__":
    main()
