"""The resume and cancel routes: replay a stream's lines after a point, then follow it live to its end.

Only the client that started a stream holds its token (sent in the stream's first line). The token
comes in the `X-Resume-Token` header or `?token=`; it is compared in constant time with the digest
the store keeps. A wrong token, an unknown or expired stream, and resume being off all get the
same answer, so none reveals whether a stream exists: 404 on the routes named by stream id, and on the
AI SDK's route the 204 `useChat` takes for "nothing to resume".
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from chat import errors, limits
from chat.endpoints import client_of
from chat.errors import ChatError
from chat.resume import digest, get_store
from chat.resume.store import Store, StreamMeta
from chat.settings import Settings, get_settings

log = logging.getLogger(__name__)

STREAM_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
UI_HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
KEEP_ALIVE = {"text/event-stream": b": keep-alive\n\n", "application/x-ndjson": b"\n"}


def _not_found() -> ChatError:
    return ChatError(404, "not_found", "There is no stream to resume here.")


async def resume_stream(request: Request) -> Response:
    """`GET …/{stream_id}` (`/api/chat/stream`, `/api/responses`): the stream after `Last-Event-ID` or `?after=`."""
    try:
        settings, store = _resume_settings(request)
        stream_id = request.path_params.get("stream_id", "")
        meta = await _authorised(request, store, stream_id)
        return await _replay(request, store, settings, stream_id, meta, {})
    except ChatError as error:
        return _error(error)


async def resume_ui_stream(request: Request) -> Response:
    """`GET /api/ui/chat/{chatId}/stream`: what `useChat({ resume: true })` asks; 204 when nothing is kept."""
    try:
        settings, store = _resume_settings(request)
        stream_id = await _stream_of_chat(store, request.path_params.get("chat_id", ""))
        meta = await _authorised(request, store, stream_id)
        return await _replay(request, store, settings, stream_id, meta, UI_HEADERS)
    except ChatError as error:
        return Response(status_code=204) if error.status == 404 else _error(error)


async def cancel_stream(request: Request) -> Response:
    """`POST …/{stream_id}/cancel`: stop generating now, wherever the stream runs."""
    return await _cancel(request, stream_id=request.path_params.get("stream_id", ""))


async def cancel_ui_stream(request: Request) -> Response:
    """`POST /api/ui/chat/{chatId}/stream/cancel`: the AI SDK's stop, when the page calls it (docs/resume.md)."""
    return await _cancel(request, chat_id=request.path_params.get("chat_id", ""))


async def _cancel(request: Request, *, stream_id: str = "", chat_id: str | None = None) -> Response:
    """Cancel the stream named by its id, or the newest stream of an AI SDK chat: 204, or the error."""
    try:
        _, store = _resume_settings(request)
        if chat_id is not None:
            stream_id = await _stream_of_chat(store, chat_id)
        await _authorised(request, store, stream_id)
        await store.request_cancel(stream_id)
    except ChatError as error:
        return _error(error)
    except Exception:
        log.exception("cancel failed (%s)", request.url.path)
        return _error(_store_failed())
    return Response(status_code=204)


def _resume_settings(request: Request) -> tuple[Settings, Store]:
    """The settings and store, once the request is counted against its client's request rate."""
    settings = get_settings()
    limits.limiter.count(client_of(request), settings)
    if settings.resume == "off":
        raise _not_found()
    return settings, get_store(settings)


async def _authorised(request: Request, store: Store, stream_id: str) -> StreamMeta:
    token = request.headers.get("x-resume-token") or request.query_params.get("token") or ""
    try:
        meta = await store.meta(stream_id) if stream_id else None
    except Exception:
        log.exception("resume store lookup failed for stream %s", stream_id)
        raise _store_failed() from None
    # Compared even when there is no stream, so a miss costs the same as a wrong token.
    expected = meta.secret_digest if meta is not None else digest("")
    if not hmac.compare_digest(expected, digest(token)) or meta is None or not token:
        raise _not_found()
    return meta


async def _stream_of_chat(store: Store, chat_id: str) -> str:
    try:
        return await store.stream_of_chat(chat_id) or ""
    except Exception:
        log.exception("resume store lookup failed for chat %s", chat_id)
        raise _store_failed() from None


def _after(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    if not raw.isdigit() or len(raw) > 12:
        raise errors.invalid_request("'after' (or Last-Event-ID) must be a whole number of events.", field="after")
    return int(raw)


async def _replay(
    request: Request, store: Store, settings: Settings, stream_id: str, meta: StreamMeta, headers: dict[str, str]
) -> Response:
    after = _after(request)
    try:
        first = await store.read(stream_id, after, 0)
    except Exception:
        log.exception("resume store read failed for stream %s", stream_id)
        raise _store_failed() from None
    if first.end == "gone":
        raise _not_found()  # the log was not kept whole: replaying part of it would be a lie
    log.info("stream %s resumed after event %d (request %s)", stream_id, after, meta.request_id)
    body = _follow(store, settings, stream_id, after, first.entries, meta.media_type)
    all_headers = {**STREAM_HEADERS, **headers, "x-request-id": meta.request_id}
    return StreamingResponse(body, media_type=meta.media_type, headers=all_headers)


async def _follow(
    store: Store, settings: Settings, stream_id: str, after: int, first: list[tuple[int, bytes]], media_type: str
) -> AsyncIterator[bytes]:
    """The logged lines, then the live ones as they are logged, until the end marker.

    While it reads, it holds a lease, so the generating instance keeps the answer going.
    """
    keep_alive = KEEP_ALIVE.get(media_type, b"\n")
    lease_every = settings.resume_grace_seconds / 3
    wait = min(settings.heartbeat_seconds, lease_every)
    await store.lease(stream_id, settings.resume_grace_seconds)
    leased_at = time.monotonic()
    entries = first
    while True:
        if entries:
            after = entries[-1][0]
            yield b"".join(line for _, line in entries)
        batch = await store.read(stream_id, after, wait)
        entries = batch.entries
        if batch.end is not None:
            if entries:
                yield b"".join(line for _, line in entries)
            return
        if not entries:
            if await store.meta(stream_id) is None:
                return  # expired under us (its generator stopped logging): nothing more will come
            yield keep_alive
        if time.monotonic() - leased_at >= lease_every:
            await store.lease(stream_id, settings.resume_grace_seconds)
            leased_at = time.monotonic()


def _store_failed() -> ChatError:
    return ChatError(503, "resume_unavailable", "Resuming is unavailable right now; ask again.")


def _error(error: ChatError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers())
