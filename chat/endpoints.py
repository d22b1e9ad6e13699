"""The two HTTP endpoints of the AI Chat Protocol, on FastAPI/Starlette request and response types.

`function_app.py` routes to these; they turn every failure into an error body with a status,
so nothing a client sends can produce a 500 with a traceback.
"""

from __future__ import annotations

import logging

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from chat import errors
from chat.errors import ChatError
from chat.protocol import ChatRequest, LineEncoder, choose_framing, parse_chat_request
from chat.settings import Settings, get_settings
from chat.streaming import capacity, open_relay
from chat.telemetry import RequestRecord
from chat.upstream import get_upstream

log = logging.getLogger(__name__)

# Proxies and CDNs buffer unless told not to; compression would buffer too, so none is applied.
STREAM_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}


async def chat(request: Request) -> Response:
    """`POST /api/chat`: the whole answer as one JSON object."""
    record = RequestRecord(streaming=False)
    try:
        settings = get_settings()
        chat_request = await _read_chat_request(request, settings)
        upstream = get_upstream()
        capacity.acquire(settings.max_concurrent_streams)
        try:
            completion = await upstream.complete(chat_request.upstream_messages(settings))
        finally:
            capacity.release()
        choice = completion.choices[0] if completion.choices else None
        if choice is None or choice.message is None:
            raise errors.upstream_error("The model service sent no answer.")
        context = record.finish(choice.finish_reason, completion.usage)
        if choice.finish_reason == "content_filter":
            raise errors.answer_filtered()
        body = {
            "message": {"role": "assistant", "content": choice.message.content or ""},
            "context": context,
            "sessionState": chat_request.session_state,
        }
        return JSONResponse(body, headers={"x-request-id": record.request_id})
    except Exception as exc:  # noqa: BLE001 - mapped to a safe error body
        return _error_response(exc, record)
    finally:
        record.emit()


async def chat_stream(request: Request) -> Response:
    """`POST /api/chat/stream`: NDJSON lines (or SSE events) as the model writes."""
    record = RequestRecord(streaming=True)
    try:
        settings = get_settings()
        chat_request = await _read_chat_request(request, settings)
        encoder = LineEncoder(choose_framing(request.headers.get("accept")))
        body = await open_relay(chat_request, get_upstream(), settings, encoder, record)
    except Exception as exc:  # noqa: BLE001 - mapped to a safe error body
        response = _error_response(exc, record)
        record.emit()
        return response
    headers = {**STREAM_HEADERS, "x-request-id": record.request_id}
    return StreamingResponse(body, media_type=encoder.media_type, headers=headers)


async def _read_chat_request(request: Request, settings: Settings) -> ChatRequest:
    return parse_chat_request(await read_body(request, settings.max_body_bytes), settings)


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


def _error_response(exc: Exception, record: RequestRecord) -> JSONResponse:
    if isinstance(exc, ChatError):
        error = exc
    else:
        log.exception("request %s failed", record.request_id)
        error = errors.internal_error()
    record.error_code = error.code
    headers = {**error.headers(), "x-request-id": record.request_id}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)
