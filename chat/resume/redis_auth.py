"""Keyless sign-in to Azure Managed Redis with the app's Microsoft Entra ID token (CHAT_REDIS_AUTH=entra).

Azure Managed Redis takes a token for `https://redis.azure.com/.default` as the password of the user
named by the identity's object id (the token's `oid` claim), and wants the client to send AUTH with a
new token before the old one expires, or its connections are disrupted (Microsoft Learn, "Use
Microsoft Entra ID for cache authentication with Azure Managed Redis"). redis-py asks a credential
provider for the user and password of every new connection; a *streaming* provider also announces new
tokens, and redis-py then re-authenticates the pool's connections (idle ones at once, busy ones when
they are released). Subscribed connections cannot send AUTH on RESP2, so the store also hears of each
new token and moves its cancel subscription to a fresh connection (`on_renewed`).

Tokens come from the app's own azure.identity.aio credential, so fetching one never blocks the event
loop, and azure-identity's cache decides when a token is really new. See docs/resume.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from azure.core.credentials_async import AsyncSupportsTokenInfo
from redis.auth.token import SimpleToken, TokenInterface
from redis.credentials import StreamingCredentialProvider
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

SCOPE = "https://redis.azure.com/.default"
# A token is renewed at the refresh time azure-identity gives it (half-way through tokens of two hours
# or more; managed identity tokens last about a day), else this long before it expires, which is when
# azure-identity starts handing out a new one: asking sooner would get the same token back.
RENEW_BEFORE_SECONDS = 300.0
RETRY_SECONDS = 5.0  # after a failed or not-yet-new token (azure-identity asks Entra at most every 30 s)
REAUTH_TIMEOUT_SECONDS = 10.0


class CredentialError(RedisError):
    """No usable token. A RedisError, so redis-py closes the half-open connection and the store reports
    itself unavailable (the stream goes on without resume) rather than failing the request."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    user: str
    expires_on: float
    refresh_on: float | None

    @property
    def renew_at(self) -> float:
        before_expiry = self.expires_on - RENEW_BEFORE_SECONDS
        return min(self.refresh_on, before_expiry) if self.refresh_on else before_expiry


class EntraCredentialProvider(StreamingCredentialProvider):
    """User = the token's `oid`, password = the token; each new token is announced before the old expires."""

    def __init__(self, credential: AsyncSupportsTokenInfo) -> None:
        self._credential = credential
        self._announced: Token | None = None  # every connection holds this token or a newer one
        self._on_next: Callable[[TokenInterface], Awaitable[None]] | None = None
        self._renewed: list[Callable[[], Awaitable[None]]] = []
        self._refresher: asyncio.Task[None] | None = None

    def get_credentials(self) -> tuple[str, str]:
        raise CredentialError("Entra sign-in to Redis is implemented for redis.asyncio only")

    async def get_credentials_async(self) -> tuple[str, str]:
        token = await self._token()
        if self._announced is None:
            self._announced = token
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh())
        return token.user, token.value

    def on_next(self, callback: Callable[[Any], Any]) -> None:
        """redis-py's re-authentication of the pool, called with each new token."""
        self._on_next = callback

    def on_error(self, callback: Callable[[Exception], Any]) -> None:
        """Not called: a failed renewal is logged and retried here until the token expires, and redis-py's
        handler would only raise it again, in the refresh task where nobody awaits it."""

    def is_streaming(self) -> bool:
        return self._refresher is not None

    def on_renewed(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Also await `callback` after each new token has been announced."""
        self._renewed.append(callback)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self._credential.close()

    async def _token(self) -> Token:
        try:
            info = await self._credential.get_token_info(SCOPE)
        except Exception as exc:  # azure-identity raises several kinds; each means "no token"
            raise CredentialError(f"no Entra ID token for Redis: {exc}") from exc
        if info.expires_on <= time.time():
            raise CredentialError("the Entra ID token for Redis has already expired")
        return Token(info.token, object_id(info.token), info.expires_on, info.refresh_on)

    async def _refresh(self) -> None:
        """Announce a new token before the one the connections hold expires; retry until one comes."""
        while True:
            assert self._announced is not None
            await asyncio.sleep(max(0.0, self._announced.renew_at - time.time()))
            try:
                token = await self._token()
            except CredentialError as exc:
                log.warning("resume store: %s; trying again in %gs", exc, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if token.value == self._announced.value:  # azure-identity has not renewed it yet
                await asyncio.sleep(RETRY_SECONDS)
                continue
            await self._announce(token)

    async def _announce(self, token: Token) -> None:
        self._announced = token
        claims = {"oid": token.user}
        try:
            async with asyncio.timeout(REAUTH_TIMEOUT_SECONDS):
                if self._on_next is not None:
                    await self._on_next(SimpleToken(token.value, token.expires_on * 1000, time.time() * 1000, claims))
                for renewed in self._renewed:
                    await renewed()
        except Exception as exc:  # noqa: BLE001 - connections that missed it reconnect with the new token
            log.warning(
                "resume store: re-authenticating Redis connections with a new token failed (%s: %s)",
                type(exc).__name__,
                exc,
            )
            return
        log.info(
            "resume store: Redis connections re-authenticated with a new Entra ID token (valid %.0fs more)",
            token.expires_on - time.time(),
        )


def object_id(token: str) -> str:
    """The token's `oid` claim, read without checking the signature: Redis checks the token, this names its user."""
    try:
        payload = token.split(".")[1]
        oid = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["oid"]
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise CredentialError("the Entra ID token for Redis is not a JWT with an oid claim") from exc
    if not isinstance(oid, str) or not oid:
        raise CredentialError("the Entra ID token for Redis has an empty oid claim")
    return oid
