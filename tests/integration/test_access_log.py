"""uvicorn's access line per request is off, under uvicorn configured as the streaming extension does it.

The extension builds its `uvicorn.Config` when it starts serving, after the app is imported, so the
app's setting must survive uvicorn's own logging configuration (chat/worker_runtime.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
import pytest
from azurefunctions.extensions.http.fastapi import Request, Response, WebApp, WebServer

from chat.worker_runtime import ACCESS_LOGGER, turn_off_access_log
from tests.harness import free_port


async def test_no_access_line_once_the_extension_serves(capfd: pytest.CaptureFixture[str]):
    turn_off_access_log()  # as function_app.py does at import: before the server exists
    web_app = WebApp()

    async def catch_all(req: Request) -> Response:
        return Response(b"served")

    web_app.route(catch_all)
    port = free_port()
    server = asyncio.ensure_future(WebServer("127.0.0.1", port, web_app).serve())
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.025)
        for attempt in range(3):  # each on its own connection: uvicorn decides per connection
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{port}/probe/{attempt}")
            assert response.status_code == 200 and response.text == "served"
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
    out, err = capfd.readouterr()
    assert "Uvicorn running on" in out + err  # uvicorn's own configuration ran, and logged
    assert "GET /probe/" not in out + err
    assert not logging.getLogger(ACCESS_LOGGER).hasHandlers()
