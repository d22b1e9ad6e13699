"""The shared stream store on Redis: every instance reads every stream, so a resume may land anywhere.

One Redis Stream per answer (`XADD` with the line's number as its id, `0-N`, so Redis itself refuses
a line out of order; `XREAD BLOCK` follows it live), a hash for its metadata, a key per AI SDK chat,
a lease key with a TTL while a resumer reads, and one pub/sub channel for cancel requests, which
each instance subscribes to when it first makes a stream resumable. Every key expires
`CHAT_RESUME_TTL_SECONDS` after the stream's last write. Imported only with `CHAT_RESUME=redis`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from chat.resume.store import Batch, End, StoreUnavailable, StreamMeta
from chat.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "chat:resume:"
CANCEL_CHANNEL = PREFIX + "cancel"
MAX_WAIT_SECONDS = 10.0  # a blocking read returns within this, below the socket timeout
READ_COUNT = 1000
# The writer gathers a stream's lines this long before one pipelined write: at 50 tokens/s that is
# one round trip per batch instead of one per delta. A resumer sees lines this much later at most.
BATCH_SECONDS = 0.02


class RedisStore:
    name = "redis"
    batch_seconds = BATCH_SECONDS

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._callbacks: list[Callable[[str], None]] = []
        self._listener: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Event | None = None

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> RedisStore:
        client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=1,
            socket_timeout=MAX_WAIT_SECONDS + 5,
            health_check_interval=30,
            max_connections=settings.max_concurrent_streams * 2 + 10,
        )
        return cls(client)

    async def create(self, stream_id: str, meta: StreamMeta, ttl: float) -> None:
        await self._listen()
        fields = {"secret": meta.secret_digest, "media": meta.media_type, "request": meta.request_id}
        fields["chat"] = meta.chat_key
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(_meta(stream_id), mapping=fields)
                pipe.pexpire(_meta(stream_id), _ms(ttl))
                if meta.chat_key:
                    pipe.set(_chat(meta.chat_key), stream_id, px=_ms(ttl))
                await pipe.execute()
        except aioredis.RedisError as exc:
            raise StoreUnavailable(repr(exc)) from exc

    async def append(self, stream_id: str, entries: list[tuple[int, bytes]], end: End | None, ttl: float) -> None:
        key = _log(stream_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for number, line in entries:
                pipe.xadd(key, {"l": line}, id=f"0-{number}")
            if end is not None:
                pipe.xadd(key, {"e": end}, id="0-*")
            pipe.pexpire(key, _ms(ttl))
            pipe.pexpire(_meta(stream_id), _ms(ttl))
            await pipe.execute()

    async def meta(self, stream_id: str) -> StreamMeta | None:
        fields = await self._redis.hgetall(_meta(stream_id))
        if not fields:
            return None
        text = {k.decode(): v.decode() for k, v in fields.items()}
        return StreamMeta(text["secret"], text["media"], text["request"], text.get("chat", ""))

    async def stream_of_chat(self, chat_key: str) -> str | None:
        value = await self._redis.get(_chat(chat_key))
        return None if value is None else value.decode()

    async def read(self, stream_id: str, after: int, wait: float) -> Batch:
        block = int(min(wait, MAX_WAIT_SECONDS) * 1000) if wait > 0 else None
        found: Any = await self._redis.xread({_log(stream_id): f"0-{after}"}, count=READ_COUNT, block=block)
        entries: list[tuple[int, bytes]] = []
        end: End | None = None
        for _, items in found or ():
            for entry_id, fields in items:
                if b"e" in fields:
                    end = fields[b"e"].decode()
                    break
                entries.append((int(entry_id.split(b"-")[1]), fields[b"l"]))
        return Batch(entries, end)

    async def lease(self, stream_id: str, seconds: float) -> None:
        await self._redis.set(_lease(stream_id), b"1", px=_ms(seconds))

    async def leased(self, stream_id: str) -> bool:
        return bool(await self._redis.exists(_lease(stream_id)))

    async def request_cancel(self, stream_id: str) -> None:
        await self._redis.publish(CANCEL_CHANNEL, stream_id)

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()

    async def _listen(self) -> None:
        """Subscribe to cancel requests before this instance's first resumable stream starts.

        A failed or lost subscription ends the listener; the next stream starts it again (and fails,
        streaming without resume, while Redis stays unreachable).
        """
        if self._listener is None or self._listener.done():
            self._subscribed = asyncio.Event()
            self._listener = asyncio.create_task(self._cancel_requests(self._subscribed))
        assert self._subscribed is not None
        waiter = asyncio.ensure_future(self._subscribed.wait())
        try:
            async with asyncio.timeout(1):
                await asyncio.wait((self._listener, waiter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not self._subscribed.is_set():
            raise StoreUnavailable("could not subscribe to cancel requests")

    async def _cancel_requests(self, subscribed: asyncio.Event) -> None:
        try:
            async with self._redis.pubsub() as pubsub:
                await pubsub.subscribe(CANCEL_CHANNEL)
                subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        for callback in self._callbacks:
                            callback(message["data"].decode())
        except aioredis.RedisError as exc:
            log.warning("resume store: cancel subscription failed or lost (%r)", exc)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _meta(stream_id: str) -> str:
    return f"{PREFIX}{stream_id}:meta"


def _log(stream_id: str) -> str:
    return f"{PREFIX}{stream_id}:log"


def _lease(stream_id: str) -> str:
    return f"{PREFIX}{stream_id}:lease"


def _chat(chat_key: str) -> str:
    return f"{PREFIX}chat:{chat_key}"
