"""A small app for the local host's own tests: each route reports what the worker runtime gave it.

Served by `python -m dev.host --app tests.integration.host_probe_app`, with host.json from a
test's folder (route prefix `v1`, a short functionTimeout) copied beside a copy of this file.
"""

import asyncio
import os
import threading
from pathlib import Path

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, StreamingResponse

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
MARKS = Path(os.environ.get("PROBE_MARKS", "."))


def _seen(req: Request) -> dict[str, object]:
    return {
        "method": req.method,
        "path": req.url.path,
        "path_params": dict(req.path_params),
        "headers": dict(req.headers),
        "loop": type(asyncio.get_running_loop()).__module__,
    }


@app.route(route="echo/{id:int}/{*rest}", methods=["GET"])
async def echo(req: Request) -> JSONResponse:
    return JSONResponse(_seen(req))


@app.route(route="any")
async def any_method(req: Request) -> JSONResponse:
    return JSONResponse({"method": req.method})


@app.route(route="sync", methods=["GET"])
def sync(req: Request) -> JSONResponse:
    return JSONResponse({"thread": threading.current_thread().name})


@app.route(route="fails", methods=["GET"])
async def fails(req: Request) -> JSONResponse:
    raise RuntimeError("the probe failed on purpose")


@app.route(route="ticks/{name}", methods=["GET"])
async def ticks(req: Request) -> StreamingResponse:
    """A line every 0.2 s until the client leaves (or the host stops it); leaves a mark when closed."""
    name = req.path_params["name"]

    async def lines():
        try:
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.2)
        finally:
            (MARKS / f"{name}.closed").write_text("closed")

    return StreamingResponse(lines(), media_type="text/plain")
