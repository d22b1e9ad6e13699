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
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from chat.resume.store import Batch, End, StoreUnavailable, StreamMeta
from chat.settings import Settings

if TYPE_CHECKING:
    from chat.resume.redis_auth import EntraCredentialProvider

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

    def __init__(self, client: aioredis.Redis, provider: EntraCredentialProvider | None = None) -> None:
        self._redis = client
        self._provider = provider
        self._callbacks: list[Callable[[str], None]] = []
        self._listener: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Event | None = None

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> RedisStore:
        """The URL's own credentials (a password, or none), or with CHAT_REDIS_AUTH=entra the app's Entra ID token."""
        options: dict[str, Any] = {
            "socket_connect_timeout": 1,
            "socket_timeout": MAX_WAIT_SECONDS + 5,
            "health_check_interval": 30,
            "max_connections": settings.max_concurrent_streams * 2 + 10,
        }
        if settings.redis_auth != "entra":
            return cls(aioredis.Redis.from_url(url, **options))
        from chat.identity import credential
        from chat.resume.redis_auth import EntraCredentialProvider

        provider = EntraCredentialProvider(credential(settings))
        # RESP2: on RESP3 redis-py re-AUTHs a subscribed connection while the listener is reading from it
        # (two readers on one socket); the store moves its subscription to a fresh connection instead.
        pool = aioredis.ConnectionPool.from_url(url, credential_provider=provider, protocol=2, **options)
        # Given the provider as well as the pool, the client registers redis-py's re-authentication of the
        # pool's connections for each new token (Redis.from_url would not).
        store = cls(aioredis.Redis(connection_pool=pool, credential_provider=provider), provider)
        provider.on_renewed(store._renew_subscription)
        return store

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
        await self._redis.aclose(close_connection_pool=True)
        if self._provider is not None:
            await self._provider.close()

    async def _listen(self) -> None:
        """Subscribe to cancel requests before this instance's first resumable stream starts.

        A failed or lost subscription ends the listener; the next stream starts it again (and fails,
        streaming without resume, while Redis stays unreachable).
        """
        if self._listener is None or self._listener.done():
            self._start_listener()
        if not await self._until_subscribed(1):
            raise StoreUnavailable("could not subscribe to cancel requests")

    async def _renew_subscription(self) -> None:
        """After a new Entra token: a subscribed RESP2 connection cannot re-AUTH, and Azure disrupts it when
        its token expires, so subscribe on a fresh connection (signed in with the new token) and only then
        drop the old one. A cancel request both hear stops its stream once: stopping a stopped stream does nothing."""
        old = self._listener
        if old is None or old.done():
            return  # the next resumable stream subscribes afresh
        self._start_listener()
        await self._until_subscribed(MAX_WAIT_SECONDS)
        old.cancel()

    def _start_listener(self) -> None:
        self._subscribed = asyncio.Event()
        self._listener = asyncio.create_task(self._cancel_requests(self._subscribed))

    async def _until_subscribed(self, seconds: float) -> bool:
        assert self._listener is not None
        assert self._subscribed is not None
        waiter = asyncio.ensure_future(self._subscribed.wait())
        try:
            async with asyncio.timeout(seconds):
                await asyncio.wait((self._listener, waiter), return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            pass
        finally:
            waiter.cancel()
        return self._subscribed.is_set()

    async def _cancel_requests(self, subscribed: asyncio.Event) -> None:
        try:
            async with self._redis.pubsub() as pubsub:
                await pubsub.subscribe(CANCEL_CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") == "subscribe":
                        subscribed.set()  # confirmed by Redis (an ACL may refuse it): cancels reach us from now on
                    elif message.get("type") == "message":
                        for callback in self._callbacks:
                            callback(message["data"].decode())
        except aioredis.RedisError as exc:
            # redis-py's repr of its errors leaves the message out, and the message is the cause.
            log.warning("resume store: cancel subscription failed or lost (%s: %s)", type(exc).__name__, exc)


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
