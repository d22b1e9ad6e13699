"""Streams that survive their client: every line numbered and logged, resumable by the client that started it.

Off unless `CHAT_RESUME` is `memory` (this process) or `redis` (every instance; `CHAT_REDIS_URL`).
`start` makes a stream resumable (or says in its first line why it is not); `chat.resume.endpoints`
serves the resume and cancel routes. See docs/resume.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from typing import Any
from urllib.parse import quote

from chat.protocols import StreamEncoder
from chat.resume.recorder import Recorder, cancel_here
from chat.resume.store import Store, StreamMeta
from chat.settings import Settings
from chat.telemetry import RequestRecord

log = logging.getLogger(__name__)

RESUMABLE = frozenset(("ai-chat", "responses", "ui-message"))
CREATE_TIMEOUT_SECONDS = 1.0
RETRY_AFTER_FAILURE_SECONDS = 5.0  # after a failed create, streams skip the store for this long
MAX_CHAT_ID = 200  # a longer `useChat` id is not used as a key: the stream's own id stands in

_stores: dict[str, Store] = {}
_store_down_until = 0.0


def get_store(settings: Settings) -> Store:
    """The process's store, made on first use; the Redis client is imported only when configured."""
    key = f"{settings.resume}:{settings.redis_url}"
    if key not in _stores:
        if settings.resume == "redis":
            from chat.resume.redis_store import RedisStore

            store: Store = RedisStore.from_url(settings.redis_url, settings)
        else:
            from chat.resume.memory import MemoryStore

            store = MemoryStore(settings.resume_max_memory_bytes)
        store.on_cancel(cancel_here)
        _stores[key] = store
    return _stores[key]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(
    path: str, protocol: str, chat_id: str | None, encoder: StreamEncoder, settings: Settings, record: RequestRecord
) -> Recorder | None:
    """Make this stream resumable; None when resume is off, or unavailable (the first line then says so)."""
    global _store_down_until
    if settings.resume == "off" or protocol not in RESUMABLE:
        return None
    if time.monotonic() < _store_down_until:
        _unavailable(encoder, record, "the store failed recently")
        return None
    stream_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
    chat_key = chat_id if chat_id and len(chat_id) <= MAX_CHAT_ID else stream_id
    chat = chat_key if protocol == "ui-message" else ""
    meta = StreamMeta(digest(token), encoder.media_type, record.request_id, chat)
    store = get_store(settings)
    try:
        async with asyncio.timeout(CREATE_TIMEOUT_SECONDS):
            await store.create(stream_id, meta, settings.resume_ttl_seconds)
    except Exception as exc:  # noqa: BLE001 - any store failure: stream on without resume
        _store_down_until = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
        _unavailable(encoder, record, repr(exc))
        return None
    url = f"{path}/{quote(chat_key, safe='')}/stream" if chat else f"{path}/{stream_id}"
    _set_resume(encoder, {"streamId": stream_id, "token": token, "url": url})
    return Recorder(store, stream_id, encoder, settings)


def _unavailable(encoder: StreamEncoder, record: RequestRecord, why: str) -> None:
    log.warning("resume unavailable for request %s: %s; streaming without it", record.request_id, why)
    _set_resume(encoder, {"available": False})


def _set_resume(encoder: StreamEncoder, resume: dict[str, Any]) -> None:
    encoder.resume = resume  # type: ignore[attr-defined] - the resumable protocols' encoders carry it
