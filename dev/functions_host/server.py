"""The host's HTTP front: routing, one invocation per request, the static site, the host's log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from dev.functions_host import routes as routing
from dev.functions_host.forwarder import Exchange, Forwarder, Outcome, Receive, Send, StreamAborted, answer_empty
from dev.functions_host.worker import Worker

log = logging.getLogger("Host.Function")
HTTP_REASON = "This function was programmatically called via the host APIs."


def timespan(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{second:02d}"


class StaticSite:
    """A folder served at /, with the headers Static Web Apps adds in Azure (staticwebapp.config.json)."""

    def __init__(self, folder: Path) -> None:
        self.files = StaticFiles(directory=folder, html=True)
        config = folder / "staticwebapp.config.json"
        headers = json.loads(config.read_text(encoding="utf-8")).get("globalHeaders", {}) if config.exists() else {}
        self.headers: dict[str, str] = {str(k): str(v) for k, v in headers.items()}

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        try:
            response = await self.files.get_response(scope["path"].lstrip("/") or ".", scope)
        except HTTPException as error:
            await answer_empty(send, error.status_code, Exchange())
            return
        response.headers.update(self.headers)
        await response(scope, receive, send)


class FunctionsHost:
    """ASGI app in front of the worker, doing what the Functions host does for an HTTP trigger."""

    def __init__(
        self,
        worker: Worker,
        table: list[routing.Route],
        forwarder: Forwarder,
        function_timeout: float | None,
        static: StaticSite | None = None,
    ) -> None:
        self.worker = worker
        self.routes = table
        self.forwarder = forwarder
        self.function_timeout = function_timeout
        self.static = static

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        found = routing.find(self.routes, scope["method"], routing.split_path(scope["raw_path"]))
        if found is not None:
            await self.invoke(*found, scope, receive, send)
        elif self.static is not None and scope["method"] in ("GET", "HEAD"):
            await self.static(scope, receive, send)
        else:
            await answer_empty(send, 404, Exchange())

    async def invoke(
        self, route: routing.Route, values: dict[str, str], scope: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        """Invocation request and proxied HTTP request side by side; the invocation lasts the whole stream."""
        invocation_id = str(uuid.uuid4())
        name = f"Functions.{route.function_name}"
        log.info("Executing '%s' (Reason='%s', Id=%s)", name, HTTP_REASON, invocation_id)
        started = time.monotonic()
        exchange = Exchange()
        invocation = asyncio.create_task(
            self.worker.invoke(invocation_id, route.function_id, route.trigger, values, _trace_parent(scope))
        )
        failure: str | None = None
        timed_out = False
        try:
            async with asyncio.timeout(self.function_timeout):
                await self.forwarder.forward(scope, receive, send, invocation_id, exchange)
                if exchange.reached_worker:
                    failure = await invocation
        except TimeoutError:
            timed_out = True
            log.error(
                "Timeout value of %s exceeded by function '%s' (Id: '%s'). Initiating cancellation.",
                timespan(self.function_timeout or 0),
                name,
                invocation_id,
            )
            failure = f"Timeout value of {timespan(self.function_timeout or 0)} was exceeded by function: {name}"
            if not exchange.response_started:
                await answer_empty(send, 500, exchange)
        finally:
            if not invocation.done():
                invocation.cancel()  # never delivered (or timed out): the runtime would wait for it forever
        if exchange.outcome is Outcome.CLIENT_DISCONNECTED:
            log.info("The client disconnected while the function was processing the request.")
        elif exchange.outcome is not Outcome.COMPLETED and failure is None:
            failure = f"Failed to proxy request with ForwarderError: {exchange.outcome.value}"
        duration = round((time.monotonic() - started) * 1000)
        status = "Failed" if failure else "Succeeded"
        log.info("Executed '%s' (%s, Id=%s, Duration=%dms)", name, status, invocation_id, duration)
        if failure:
            log.error("Exception while executing function: %s. %s", name, failure)
        if exchange.response_started and (timed_out or exchange.outcome in (Outcome.TIMED_OUT, Outcome.BROKEN)):
            raise StreamAborted(f"{name} ({invocation_id}): {failure}")


def _trace_parent(scope: dict[str, Any]) -> str:
    """The client's W3C traceparent, or a new one, as the host's activity would carry it."""
    for key, value in scope["headers"]:
        if key.lower() == b"traceparent":
            return value.decode("latin-1")
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


class DropStreamAborted(logging.Filter):
    """uvicorn logs any exception after the response started; the host's abort is deliberate."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamAborted))
