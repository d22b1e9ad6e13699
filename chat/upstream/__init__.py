"""The model behind the app: one `openai` client per worker process, keyless on Azure, on the v1 API.

On Azure the client talks to `{AZURE_OPENAI_ENDPOINT}/openai/v1/` (no `api-version`) with the
`azure-identity` bearer-token provider as its key. One of two upstream APIs is read
(`CHAT_UPSTREAM_API`): `responses` (Azure's default) or `chat_completions` (what local servers
speak). Each is a small module with the request it sends and the decoder of its stream; both
yield the same events (`chat.events`), so the relay never knows which one it reads.

The request is built once per worker from the SDK client's own configuration (its v1 base URL,
its default headers less its telemetry, the key or token provider it was given) and sent with aiohttp
(`chat.upstream.transport`). The SDK's per-call path (parameter transformation, option merging,
URL and header assembly, httpx2's request and response objects) cost about five times the rest
of the upstream call (`python -m benchmarks.levers`, issue #14); what it gave the relay — status
errors as `openai.APIStatusError`, transport errors as httpx2's — is kept.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any, TypeVar

import aiohttp
import httpx2
import msgspec
import openai
from azure.core.exceptions import ClientAuthenticationError
from yarl import URL

from chat import errors
from chat.conversation import Conversation
from chat.errors import ChatError, ConfigurationError
from chat.events import Event
from chat.identity import credential
from chat.settings import Settings, get_settings
from chat.upstream import chat_completions, responses, sse
from chat.upstream.transport import UpstreamHTTP, mapped_error

log = logging.getLogger(__name__)
T = TypeVar("T")

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
APIS: dict[str, ModuleType] = {"responses": responses, "chat_completions": chat_completions}


_encode = msgspec.json.Encoder().encode
TokenProvider = Callable[[], Awaitable[str]]


class Reply:
    """An accepted upstream answer: its events (`async with reply as events`), then the close.

    Closing it drops a connection whose answer was not read to its end, which is what stops
    generation (and billing) when the client goes away.
    """

    def __init__(
        self,
        http: UpstreamHTTP,
        response: aiohttp.ClientResponse,
        events: AsyncGenerator[Event],
        chunks: AsyncGenerator[bytes],
    ) -> None:
        self._http = http
        self._response = response
        self._generators = (events, chunks)  # the decoder's, then the byte reader's under it
        self.events = events
        self._closed = False

    async def __aenter__(self) -> AsyncGenerator[Event]:
        return self.events

    async def __aexit__(self, *_: object) -> None:
        # A decoder returns at its last event, leaving the generators under it suspended: closed
        # here, not by the garbage collector, whose finalizer would make a task and wake the loop
        # from another thread for each (two per request, issue #14).
        for generator in self._generators:
            await generator.aclose()
        self.close()

    def close(self) -> None:
        """Release or drop the connection; enough on its own for a reply whose events were never read."""
        if not self._closed:
            self._closed = True
            self._http.close(self._response)


@dataclass
class Upstream:
    """The model client, the upstream API it reads, and the retry policy every call shares."""

    settings: Settings
    client: openai.AsyncOpenAI  # its configuration only: requests go out on `http`
    http: UpstreamHTTP
    api: ModuleType
    token: TokenProvider | None = None  # keyless: a fresh bearer token per call (azure-identity caches it)
    _url: URL = field(init=False)

    def __post_init__(self) -> None:
        self._url = URL(str(self.client.base_url.join(self.api.PATH)))

    async def open(self, conversation: Conversation) -> Reply:
        """POST the request; once the upstream has accepted it, its reply. Failures raise `ChatError`.

        The caller's own task sends it, so the request is on the wire before any task is made for
        the answer (a task hop before the POST was a measurable share of the time to first token).
        """
        body = _encode(self.api.options(conversation, self.settings))
        response = await self._with_retries(lambda: self._open(body))
        chunks = self.http.chunks(response)
        return Reply(self.http, response, sse.events(chunks, self.api.Decoder()), chunks)

    async def _open(self, body: bytes) -> aiohttp.ClientResponse:
        """POST the request; a non-2xx answer is raised as the SDK's `APIStatusError`, with its body read."""
        headers = None if self.token is None else {"Authorization": f"Bearer {await self.token()}"}
        response = await self.http.post(self._url, headers, body)
        if response.status >= 300:
            try:
                content = await response.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise mapped_error(exc, self._url) from exc
            finally:
                self.http.close(response)
            raise _status_error(response, content)
        return response

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


def _retry_delay(exc: Exception, attempt: int) -> float | None:
    """Seconds to wait before retrying `exc`, or None when it is not worth retrying."""
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code != 429 and exc.status_code < 500:
            return None
        hinted = retry_after_seconds(exc.response.headers)
        if hinted is not None:
            return hinted
    elif isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException) or not isinstance(
        exc, openai.APIConnectionError | httpx2.TransportError
    ):
        return None  # a timeout already cost the whole timeout: do not pay it again
    return min(0.5 * 2**attempt, 4.0) * (1 - 0.25 * random.random())


def _status_error(answer: aiohttp.ClientResponse, content: bytes) -> openai.APIStatusError:
    """The SDK's own error for a non-2xx answer, as its client would have raised it."""
    request = httpx2.Request("POST", str(answer.url))
    response = httpx2.Response(answer.status, headers=answer.raw_headers, content=content, request=request)
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text or None
    return openai.APIStatusError(f"upstream answered {response.status_code}", response=response, body=body)


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
            log.warning("upstream rejected the request: %s", _error_code(exc))
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


def mid_stream_error(exc: BaseException) -> ChatError:
    """A failure after the answer started: the decoder's own error, a timeout, or a cut-off reply."""
    if isinstance(exc, ChatError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return errors.upstream_timeout()
    return errors.upstream_interrupted()


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
    token: TokenProvider | None = None
    if settings.openai_host == "local":
        base_url, key = settings.local_openai_endpoint, settings.azure_openai_api_key or "no-key"
    else:
        base_url = f"{settings.azure_openai_endpoint}/openai/v1/"
        key = settings.azure_openai_api_key or _token_provider(settings)
        token = None if settings.azure_openai_api_key else key  # type: ignore[assignment]
    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)
    # Sized to the concurrency cap so requests never queue inside the HTTP client.
    http = UpstreamHTTP(
        max_connections=settings.max_concurrent_streams,
        connect_seconds=10.0,
        read_seconds=settings.upstream_timeout_seconds,
        headers=request_headers(client, keyless=token is not None),
    )
    return Upstream(settings, client, http, APIS[settings.upstream_api], token)


def request_headers(client: openai.AsyncOpenAI, *, keyless: bool) -> dict[str, str]:
    """The headers every request carries, taken once from the SDK client's configuration.

    The SDK's `X-Stainless-*` headers describe the SDK's own transport (its retry count, its
    async mode) for OpenAI's telemetry; requests no longer go through that transport, so they are
    left out (each header is work on both ends of every request, issue #14). The SDK's
    User-Agent stays: it tells the service which client made the request.
    """
    defaults = client.default_headers.items()
    headers = {k: v for k, v in defaults if isinstance(v, str) and not k.startswith("X-Stainless")}
    headers["Accept-Encoding"] = "identity"  # SSE is not worth compressing (aiohttp decodes it if sent anyway)
    if not keyless:
        headers.update(client.auth_headers)  # a key is as constant as the rest; a token is fetched per call
    return headers


def _token_provider(settings: Settings) -> Callable[[], Awaitable[str]]:
    from azure.identity.aio import get_bearer_token_provider

    return get_bearer_token_provider(credential(settings), AZURE_SCOPE)


@cache
def get_upstream() -> Upstream:
    """The worker's one client, built on first use and reused by every request."""
    return build_upstream(get_settings())
