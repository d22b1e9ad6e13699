"""The HTTP endpoints, one implementation for every protocol, on FastAPI/Starlette types.

`function_app.py` routes each protocol's paths here. Reading the body, the limits, the relay,
the error mapping and telemetry are the same for all of them: a protocol only parses its body
and encodes events. Every failure becomes an error body with a status, never a 500 with a
traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from chat import errors, limits, resume
from chat.errors import ChatError
from chat.limits import Ticket
from chat.protocols import ChatProtocol
from chat.relay import RelayLines, gather, open_relay
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
    ticket: Ticket | None = None
    try:
        settings = get_settings()
        record.upstream_api = settings.upstream_api
        record.client = client_of(request)
        _require_json(request.headers.get("content-type"))
        ticket = limits.limiter.admit(record.client, settings)  # before the body: a slow one holds a slot
        body = await read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
        parsed = protocol.parse(body, settings)
        ticket.reserve(parsed.conversation.token_bound(settings))
        record.streaming = parsed.stream if stream is None else stream
        upstream = get_upstream()
        if not record.streaming:
            result = await _unless_client_leaves(request, gather(parsed.conversation, upstream, settings, record))
            body = protocol.answer(parsed, result, record)
            response: Response = JSONResponse(body, headers={"x-request-id": record.request_id})
            _settle(ticket, record)
            record.emit()
            return response
        encoder = protocol.encoder(parsed, request.headers.get("accept"), record)
        # None unless CHAT_RESUME is on: then the stream is logged as it goes (chat/resume).
        chat_id = getattr(parsed, "chat_id", None)
        recorder = await resume.start(request.url.path, protocol.name, chat_id, encoder, settings, record)
        relayed = encoder if recorder is None else recorder.encoder
        lines = await open_relay(parsed.conversation, upstream, settings, relayed, record, recorder)
        # The relay emits the record; the response settles the ticket once the stream is over, however it
        # ends (and once a detached answer has ended, with resume on).
        on_close = partial(_settle, ticket, record)
        if recorder is not None:
            on_close = partial(recorder.when_generated, on_close)
    except Exception as exc:  # noqa: BLE001 - mapped to a safe error body
        response = _error_response(exc, record)
        if ticket is not None:
            _settle(ticket, record, exc)
        record.emit()
        return response
    headers = {**STREAM_HEADERS, **encoder.headers, "x-request-id": record.request_id}
    return _SettlingStream(lines, on_close, media_type=encoder.media_type, headers=headers)


_FAILED_MID_ANSWER = frozenset(("upstream_interrupted", "upstream_incomplete"))


def _settle(ticket: Ticket, record: RequestRecord, failure: Exception | None = None) -> None:
    """Free the client's slot and charge what the request cost: the upstream's count when it gave one;
    nothing when it was refused before the model ran; its whole reservation when it was cut off while
    the model ran (those tokens may have been billed)."""
    used: int | None = None
    if record.prompt_tokens is not None or record.completion_tokens is not None:
        used = (record.prompt_tokens or 0) + (record.completion_tokens or 0)
    elif failure is not None and not isinstance(failure, _ClientLeft) and record.error_code not in _FAILED_MID_ANSWER:
        used = 0
    ticket.close(used)


def _require_json(content_type: str | None) -> None:
    """415 unless the body is declared JSON: other types skip the CORS preflight (issue #12)."""
    media_type, _, parameters = (content_type or "").partition(";")
    if media_type.strip().lower() != "application/json":
        raise errors.unsupported_media_type()
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise errors.unsupported_media_type()


def client_of(request: Request) -> str:
    """The key the per-client limits count by (chat/limits.py): the address the last trusted hop saw, hashed."""
    peer = request.client.host if request.client else None
    return limits.client_id(limits.client_address(request.headers.getlist("x-forwarded-for"), peer))


class _SettlingStream(StreamingResponse):
    """The relay's lines as a stream that runs `on_close` once it is over: sent whole, cut off, or left."""

    def __init__(self, content: RelayLines, on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._lines = content
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._lines.attach(send)  # the relay's pump may send lines itself (chat/relay.py)
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


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


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """Read the body up to `limit` bytes within `seconds`; refuse a larger or slower one."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise errors.invalid_request("Content-Length must be a number.", field="body")
        if int(declared) > limit:
            raise errors.body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise errors.body_too_large(limit)
                chunks.append(chunk)
    except ClientDisconnect:
        raise errors.invalid_request("The request body was cut off.", field="body") from None
    except TimeoutError:
        raise errors.body_timeout(seconds) from None
    return b"".join(chunks)


def _error_response(exc: Exception, record: RequestRecord) -> Response:
    if isinstance(exc, _ClientLeft):
        record.cancelled = True
        log.info("client went away; upstream closed (request %s)", record.request_id)
        return Response(status_code=499)  # nobody reads it; the status marks it in the host's request log
    if isinstance(exc, ChatError):
        error = exc
    else:
        log.exception("request %s failed", record.request_id)
        error = errors.internal_error()
    record.error_code = error.code
    headers = {**error.headers(), "x-request-id": record.request_id}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)
