"""The HTTP endpoints, one implementation for every protocol, on FastAPI/Starlette types.

`function_app.py` routes each protocol's paths here. Reading the body, the limits, the relay,
the error mapping and telemetry are the same for all of them: a protocol only parses its body
and encodes events. Every failure becomes an error body with a status, never a 500 with a
traceback.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from chat import errors
from chat.errors import ChatError
from chat.protocols import ChatProtocol
from chat.relay import gather, open_relay
from chat.settings import get_settings
from chat.telemetry import RequestRecord
from chat.upstream import get_upstream

log = logging.getLogger(__name__)
T = TypeVar("T")

# Proxies and CDNs buffer unless told not to; compression would buffer too, so none is applied.
STREAM_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}


async def respond(request: Request, protocol: ChatProtocol, *, stream: bool | None = None) -> Response:
    """Answer one chat request: streamed or whole, as the route (or, when it leaves it open, the body) says."""
    record = RequestRecord(streaming=bool(stream), protocol=protocol.name)
    try:
        settings = get_settings()
        record.upstream_api = settings.upstream_api
        parsed = protocol.parse(await read_body(request, settings.max_body_bytes), settings)
        record.streaming = parsed.stream if stream is None else stream
        upstream = get_upstream()
        if not record.streaming:
            result = await _unless_client_leaves(request, gather(parsed.conversation, upstream, settings, record))
            body = protocol.answer(parsed, result, record)
            response: Response = JSONResponse(body, headers={"x-request-id": record.request_id})
            record.emit()
            return response
        encoder = protocol.encoder(parsed, request.headers.get("accept"), record)
        lines = await open_relay(parsed.conversation, upstream, settings, encoder, record)
    except Exception as exc:  # noqa: BLE001 - mapped to a safe error body
        response = _error_response(exc, record)
        record.emit()
        return response
    headers = {**STREAM_HEADERS, **encoder.headers, "x-request-id": record.request_id}
    return StreamingResponse(lines, media_type=encoder.media_type, headers=headers)  # the relay emits the record


class _ClientLeft(Exception):
    """The caller of a non-streaming request disconnected before the answer was ready."""


async def _unless_client_leaves(request: Request, work: Any) -> Any:
    """Run `work`, cancelling it (which closes the upstream and frees its slot) if the client leaves."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise _ClientLeft


async def _disconnected(request: Request) -> None:
    # Once the body is read, the server's next message is the disconnect (ASGI spec).
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body up to `limit` bytes; refuse a larger one without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise errors.invalid_request("Content-Length must be a number.", field="body")
        if int(declared) > limit:
            raise errors.body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise errors.body_too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise errors.invalid_request("The request body was cut off.", field="body") from None
    return b"".join(chunks)


def _error_response(exc: Exception, record: RequestRecord) -> Response:
    if isinstance(exc, _ClientLeft):
        record.cancelled = True
        log.info("client went away; upstream closed (request %s)", record.request_id)
        return Response(status_code=499)  # nobody reads it; the status marks it in access logs
    if isinstance(exc, ChatError):
        error = exc
    else:
        log.exception("request %s failed", record.request_id)
        error = errors.internal_error()
    record.error_code = error.code
    headers = {**error.headers(), "x-request-id": record.request_id}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)
