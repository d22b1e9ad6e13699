"""The upstream HTTP transport: aiohttp under the openai client's httpx2, for a C parser and a cheap pool.

The SDK's default transport (httpcore2 + h11) parses every response in Python and walks its pool
on each request; aiohttp (already deployed: azure-identity's async transport) parses with llhttp
and keeps idle connections per host. benchmarks/RESULTS.md has the per-request figures.

Failures become the httpx2 exceptions the SDK and `chat.upstream.to_chat_error` read, kept
faithful: a refused or unresolvable connection is `ConnectError` (502 `upstream_unavailable`,
retried), never a timeout; only a connect or read that ran out of time is a timeout (504).
The vendored `openai._vendor.httpx_aiohttp` maps a refused connection to `ConnectTimeout`,
which is why this module exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx2

# Most specific first: aiohttp's timeouts are also connection errors, its connect errors OS errors.
_ERRORS: tuple[tuple[type[BaseException], type[httpx2.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx2.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx2.ReadTimeout),
    (TimeoutError, httpx2.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx2.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx2.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx2.ReadError),
    (aiohttp.ClientConnectionError, httpx2.NetworkError),
    (aiohttp.ClientError, httpx2.TransportError),
)
# aiohttp frames the body itself; the SDK's own values would be sent twice.
_DROPPED = frozenset(("content-length", "transfer-encoding", "host"))


@contextmanager
def _mapped_errors(request: httpx2.Request) -> Iterator[None]:
    try:
        yield
    except (TimeoutError, aiohttp.ClientError) as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc) or type(exc).__name__, request=request) from exc
        raise


class _Body(httpx2.AsyncByteStream):
    """The response body as aiohttp hands it over: each read as soon as it arrives."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx2.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors(self._request):
            async for data in self._response.content.iter_any():
                yield data

    async def aclose(self) -> None:
        # Closing (not releasing) a body not read to its end drops the connection: that is what
        # tells the model service to stop generating when the client has gone.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """One aiohttp session per worker, made on first use inside the running event loop."""

    def __init__(self, *, max_connections: int, keepalive_seconds: float = 15.0) -> None:
        self._max_connections = max_connections
        self._keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive_seconds)
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._open_session()
        timeout = request.extensions.get("timeout", {})
        headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw if k.lower() not in _DROPPED
        ]
        with _mapped_errors(request):
            response = await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=await request.aread() or None,
                allow_redirects=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        return httpx2.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
