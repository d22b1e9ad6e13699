"""The model behind the app: one `openai` client per worker process, keyless on Azure.

Streams are read as raw server-sent events (`with_streaming_response`) and decoded with
msgspec into the few fields the relay needs, instead of building a pydantic model per chunk:
that is most of the per-token CPU a relay spends (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import httpx2
import msgspec
import openai
from azure.core.exceptions import ClientAuthenticationError

from chat import errors
from chat.errors import ChatError, ConfigurationError
from chat.settings import Settings, get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"


class Delta(msgspec.Struct):
    content: str | None = None


class Choice(msgspec.Struct):
    delta: Delta | None = None
    finish_reason: str | None = None


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Chunk(msgspec.Struct):
    """One `chat.completion.chunk`, reduced to what the relay forwards; unknown fields are skipped."""

    choices: list[Choice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    error: Any = None


class Message(msgspec.Struct):
    content: str | None = None


class CompletionChoice(msgspec.Struct):
    message: Message | None = None
    finish_reason: str | None = None


class Completion(msgspec.Struct):
    """A non-streamed `chat.completion`, reduced likewise."""

    choices: list[CompletionChoice] = msgspec.field(default_factory=list)
    usage: Usage | None = None


_decode_chunk = msgspec.json.Decoder(Chunk).decode
_decode_completion = msgspec.json.Decoder(Completion).decode


@dataclass
class Upstream:
    """The model client and the request options every call shares."""

    settings: Settings
    client: openai.AsyncOpenAI

    def _options(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {"model": self.settings.model, "messages": messages}

    @asynccontextmanager
    async def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[AsyncIterator[Chunk]]:
        """Open a completion stream; failures before the first byte raise `ChatError`.

        Leaving the context closes the upstream response, which is what stops generation
        (and billing) when the client goes away.
        """
        options = {**self._options(messages), "stream": True, "stream_options": {"include_usage": True}}
        create = self.client.chat.completions.with_streaming_response.create
        response = await self._with_retries(lambda: create(**options).__aenter__())
        try:
            yield _chunks(response.http_response)
        finally:
            await response.close()

    async def complete(self, messages: list[dict[str, str]]) -> Completion:
        """One non-streamed completion."""
        create = self.client.chat.completions.with_raw_response.create
        raw = await self._with_retries(lambda: create(**self._options(messages)))
        try:
            return _decode_completion(raw.http_response.content)
        except msgspec.DecodeError:
            raise errors.upstream_error("The model service sent a malformed reply.") from None

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        """Retry rate limits and transient faults, honouring Retry-After within a total wait budget.

        The SDK's own retries are off: they can wait up to two minutes per attempt, while a chat
        user should get an answer (or a clear 429) within `CHAT_UPSTREAM_MAX_RETRY_WAIT_SECONDS`.
        """
        waited = 0.0
        attempt = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                error = to_chat_error(exc)
                delay = _retry_delay(exc, attempt)
                if (
                    delay is None
                    or attempt >= self.settings.upstream_max_retries
                    or waited + delay > self.settings.upstream_max_retry_wait_seconds
                ):
                    raise error from exc
                log.info("upstream answered %s; retry %d in %.2fs", error.code, attempt + 1, delay)
                await asyncio.sleep(delay)
                waited += delay
                attempt += 1


async def _chunks(response: httpx2.Response) -> AsyncIterator[Chunk]:
    """Decode the server-sent events of a completion stream, up to `data: [DONE]`.

    Lines are split from the bytes as they arrive and handed to msgspec as bytes: the SDK's
    `aiter_lines` adds a text decoder and a line decoder (two more async generators and a
    UTF-8 decode) per network read, a measurable share of the relay's CPU per delta.
    """
    pending = b""
    async for data in response.aiter_bytes():
        lines = (pending + data).split(b"\n")
        pending = lines.pop()  # an incomplete last line waits for the next read
        for line in lines:
            if line.startswith(b"data:"):  # skips blank separators, comments, `event:` fields
                chunk = _data(line)
                if chunk is None:
                    return
                yield chunk
    if pending.startswith(b"data:"):  # a last line without its newline still counts
        chunk = _data(pending)
        if chunk is not None:
            yield chunk


def _data(line: bytes) -> Chunk | None:
    """One `data:` line as a chunk; None for `[DONE]`."""
    payload = line[5:].strip()
    if payload == b"[DONE]":
        return None
    try:
        return _decode_chunk(payload)
    except msgspec.DecodeError:
        raise errors.upstream_error("The model service sent a malformed reply.") from None


def _retry_delay(exc: Exception, attempt: int) -> float | None:
    """Seconds to wait before retrying `exc`, or None when it is not worth retrying."""
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code != 429 and exc.status_code < 500:
            return None
        hinted = retry_after_seconds(exc.response.headers)
        if hinted is not None:
            return hinted
    elif isinstance(exc, openai.APITimeoutError) or not isinstance(exc, openai.APIConnectionError):
        return None  # a timeout already cost the whole timeout: do not pay it again
    return min(0.5 * 2**attempt, 4.0) * (1 - 0.25 * random.random())


def retry_after_seconds(headers: httpx2.Headers) -> float | None:
    """The upstream's requested wait: `retry-after-ms` (Azure) first, then `retry-after` in seconds."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue
    return None


def to_chat_error(exc: BaseException) -> ChatError:
    """Map an upstream failure to what the client may know of it: a status, a code, no details."""
    if isinstance(exc, ChatError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            hinted = retry_after_seconds(exc.response.headers)
            return errors.rate_limited(max(1, round(hinted)) if hinted is not None else 1)
        if status == 400 and _error_code(exc) == "content_filter":
            return errors.prompt_filtered()
        if status in (401, 403, 404):
            log.error("upstream answered %d: check the endpoint, deployment and the app's role assignment", status)
            return errors.upstream_misconfigured()
        if status == 400:
            return errors.upstream_rejected()
        return errors.upstream_error()
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return errors.upstream_timeout()
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return errors.upstream_unavailable()
    if isinstance(exc, ClientAuthenticationError):
        log.error("no token for the model service: %s", exc)
        return errors.upstream_misconfigured()
    log.exception("unexpected upstream failure", exc_info=exc)
    return errors.upstream_error()


def _error_code(exc: openai.APIStatusError) -> str | None:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return inner["code"]
    return getattr(exc, "code", None)


def build_upstream(settings: Settings) -> Upstream:
    """Build the client once per process: keyless on Azure unless a key is configured."""
    missing = settings.missing_upstream_settings()
    if missing:
        raise ConfigurationError("Missing required settings: " + ", ".join(missing))
    # Sized to the concurrency cap so requests never queue inside the HTTP client.
    http_client = openai.DefaultAsyncHttpxClient(
        limits=httpx2.Limits(
            max_connections=settings.max_concurrent_streams,
            max_keepalive_connections=min(100, settings.max_concurrent_streams),
        ),
        timeout=httpx2.Timeout(settings.upstream_timeout_seconds, connect=10.0),
    )
    common: dict[str, Any] = {"max_retries": 0, "http_client": http_client}
    if settings.openai_host == "local":
        client: openai.AsyncOpenAI = openai.AsyncOpenAI(
            base_url=settings.local_openai_endpoint, api_key=settings.azure_openai_api_key or "no-key", **common
        )
    elif settings.azure_openai_api_key:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            api_version=settings.azure_openai_api_version,
            api_key=settings.azure_openai_api_key,
            **common,
        )
    else:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            api_version=settings.azure_openai_api_version,
            azure_ad_token_provider=_token_provider(settings),
            **common,
        )
    return Upstream(settings=settings, client=client)


def _credential(settings: Settings) -> Any:
    """The app's user-assigned managed identity in Azure; `az login` (or any developer credential) locally."""
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if settings.azure_client_id:
        return ManagedIdentityCredential(client_id=settings.azure_client_id)
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def _token_provider(settings: Settings) -> Callable[[], Awaitable[str]]:
    from azure.identity.aio import get_bearer_token_provider

    return get_bearer_token_provider(_credential(settings), AZURE_SCOPE)


@cache
def get_upstream() -> Upstream:
    """The worker's one client, built on first use and reused by every request."""
    return build_upstream(get_settings())
