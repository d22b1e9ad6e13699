"""The proxy hop to the runtime's HTTP server, as the host's forwarder (YARP) makes it.

From the host's source (`DefaultHttpProxyService`, `RetryProxyHandler`) and YARP's default
transformer: the request's headers are copied except hop-by-hop ones and Host (the worker sees
its own address; the original goes in `X-Forwarded-Host`), `X-Forwarded-For/Proto/Host` are set
(replacing what a client sent), `x-ms-invocation-id` is set to the invocation (replacing a
client's), connecting is retried up to 10 times (50 ms doubling to 250 ms), bodies stream both
ways at once (a response that comes before the request body ends, such as an early 413, goes to
the client at once), and 240 s without a byte either way ends the exchange. A client that leaves
closes the hop, so the worker sees the disconnect; a failure after the response started aborts the
client's connection rather than ending the response cleanly.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger("Host.Proxy")

ACTIVITY_TIMEOUT = 240.0
CONNECT_ATTEMPTS = 10
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)
_REPLACED = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-ms-invocation-id"})
_END = object()

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Outcome(enum.Enum):
    COMPLETED = "completed"
    CLIENT_DISCONNECTED = "client disconnected"
    TIMED_OUT = "no data either way for the activity timeout"
    UNREACHABLE = "worker unreachable"
    BROKEN = "the worker's response broke off"


class StreamAborted(Exception):
    """Raised to the server after the response started: it drops the connection, as YARP does."""


@dataclass
class Exchange:
    """How one forwarded request went; the caller reads it even when cancelled mid-way."""

    outcome: Outcome = Outcome.COMPLETED
    status: int | None = None
    response_started: bool = False
    reached_worker: bool = False  # the request head was written to the worker's socket


def proxy_headers(scope: dict[str, Any], invocation_id: str) -> list[tuple[str, str]]:
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
    named = {t.strip().lower() for k, v in headers if k == "connection" for t in v.split(",")}
    kept = [(k, v) for k, v in headers if k not in _HOP_BY_HOP | _REPLACED | named]
    host = next((v for k, v in headers if k == "host"), None)
    client = scope.get("client")
    kept.append(("x-ms-invocation-id", invocation_id))
    if client:
        kept.append(("x-forwarded-for", client[0]))
    kept.append(("x-forwarded-proto", scope.get("scheme", "http")))
    if host:
        kept.append(("x-forwarded-host", host))
    return kept


def _has_body(scope: dict[str, Any]) -> bool:
    for key, value in scope["headers"]:
        name = key.lower()
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class Forwarder:
    """One pooled HTTP client to the worker, shared by all invocations."""

    def __init__(self, destination: str, activity_timeout: float = ACTIVITY_TIMEOUT) -> None:
        self.destination = destination.rstrip("/")
        self.activity_timeout = activity_timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Forwarder:
        self._session = aiohttp.ClientSession(
            # Idle connections are dropped before the worker's uvicorn closes them (its keep-alive is 5 s):
            # reusing one the worker has just closed would fail the request with an empty 502. The host's
            # .NET client retries such a request instead; aiohttp does not.
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=2.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            trace_configs=[_headers_sent_trace()],
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(
        self, scope: dict[str, Any], receive: Receive, send: Send, invocation_id: str, state: Exchange
    ) -> None:
        """Relay one request and its response; `state` says how the exchange ended."""
        try:
            async with asyncio.timeout(self.activity_timeout) as idle:
                await self._relay(scope, receive, send, invocation_id, state, idle)
        except TimeoutError:
            state.outcome = Outcome.TIMED_OUT
            if not state.response_started:
                await answer_empty(send, 504, state)  # YARP's RequestTimedOut before the response

    async def _relay(
        self,
        scope: dict[str, Any],
        receive: Receive,
        send: Send,
        invocation_id: str,
        state: Exchange,
        idle: asyncio.Timeout,
    ) -> None:
        loop = asyncio.get_running_loop()
        body: asyncio.Queue[object] = asyncio.Queue(maxsize=4)
        disconnected = asyncio.Event()
        sent_whole_body = not _has_body(scope)
        response: aiohttp.ClientResponse | None = None

        def touch() -> None:
            idle.reschedule(loop.time() + self.activity_timeout)

        async def read_client() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    if response is not None:
                        response.close()  # wakes the relay loop; the worker sees its peer leave
                    return
                if chunk := message.get("body", b""):
                    await body.put(chunk)
                if not message.get("more_body", False):
                    await body.put(_END)

        async def request_body() -> AsyncIterator[bytes]:
            nonlocal sent_whole_body
            yield b""  # aiohttp holds the head until the first body bytes: send it now, as YARP does
            while (chunk := await body.get()) is not _END:
                touch()
                yield chunk  # type: ignore[misc]
            sent_whole_body = True

        reader = asyncio.create_task(read_client())
        try:
            try:
                response = await self._open(scope, invocation_id, request_body, disconnected, state)
            except ConnectionError:
                state.outcome = Outcome.UNREACHABLE
                await answer_empty(send, 502, state)
                return
            except aiohttp.ClientError:
                state.outcome = Outcome.BROKEN
                await answer_empty(send, 502, state)
                return
            if response is None:
                state.outcome = Outcome.CLIENT_DISCONNECTED
                return
            touch()
            state.status = response.status
            await send(
                {"type": "http.response.start", "status": response.status, "headers": _response_headers(response)}
            )
            state.response_started = True
            while True:
                try:
                    chunk = await response.content.readany()
                except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
                    if disconnected.is_set():
                        break
                    state.outcome = Outcome.BROKEN
                    return
                if not chunk:
                    break
                touch()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if disconnected.is_set():
                state.outcome = Outcome.CLIENT_DISCONNECTED
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            reader.cancel()
            if response is not None:
                # A request body not sent to its end leaves the connection unusable: close, never reuse.
                if sent_whole_body and not disconnected.is_set() and state.outcome is Outcome.COMPLETED:
                    response.release()
                else:
                    response.close()
            if disconnected.is_set() and state.outcome is Outcome.COMPLETED:
                state.outcome = Outcome.CLIENT_DISCONNECTED

    async def _open(
        self,
        scope: dict[str, Any],
        invocation_id: str,
        request_body: Callable[[], AsyncIterator[bytes]],
        disconnected: asyncio.Event,
        state: Exchange,
    ) -> aiohttp.ClientResponse | None:
        """The worker's response head, connecting up to 10 times; None when the client left first."""
        assert self._session is not None
        target = self.destination + scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        delay = 0.05
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            request = asyncio.ensure_future(
                self._session.request(
                    scope["method"],
                    aiohttp.client.URL(target, encoded=True),
                    headers=proxy_headers(scope, invocation_id),
                    data=request_body() if _has_body(scope) else None,
                    allow_redirects=False,
                    compress=None,
                    trace_request_ctx=state,
                )
            )
            left = asyncio.ensure_future(disconnected.wait())
            await asyncio.wait({request, left}, return_when=asyncio.FIRST_COMPLETED)
            left.cancel()
            if not request.done():
                request.cancel()
                return None
            try:
                return request.result()
            except aiohttp.ClientConnectorError as error:
                if attempt == CONNECT_ATTEMPTS:
                    log.warning("Reached the maximum retry count for worker request proxying. Error: %s", error)
                    raise ConnectionError(str(error)) from None
                log.warning(
                    "Failed to proxy request to the worker. Retrying in %dms. Attempt %d of %d.",
                    delay * 1000,
                    attempt,
                    CONNECT_ATTEMPTS,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")


async def answer_empty(send: Send, status: int, state: Exchange) -> None:
    """The host's own answer, with an empty body (504, 502, 500)."""
    state.status = status
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    state.response_started = True


def _headers_sent_trace() -> aiohttp.TraceConfig:
    """Marks `Exchange.reached_worker`: a request the worker never saw must not be awaited."""

    async def sent(_: object, context: Any, __: object) -> None:
        context.trace_request_ctx.reached_worker = True

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(sent)
    return trace


def _response_headers(response: aiohttp.ClientResponse) -> list[tuple[bytes, bytes]]:
    return [(k.lower(), v) for k, v in response.raw_headers if k.lower().decode("latin-1") not in _HOP_BY_HOP]
