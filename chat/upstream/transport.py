"""The upstream HTTP client: one aiohttp session per worker, for a C parser and a cheap pool.

The SDK's own path (httpx2 over httpcore2 and h11) parses every response in Python, walks its
pool on each request and builds request, response and header objects per call; aiohttp (already
deployed: azure-identity's async transport) parses with llhttp and keeps idle connections per
host. Putting aiohttp under the SDK's httpx2 client still left httpx2's per-call objects and
send flow, about a quarter of the client's CPU per call (`python -m benchmarks.levers`), so the
request goes to aiohttp directly. benchmarks/RESULTS.md has the per-request figures.

Failures become the exceptions the SDK raises and `chat.upstream.to_chat_error` reads, kept
faithful: a refused or unresolvable connection is httpx2's `ConnectError` (502
`upstream_unavailable`, retried), never a timeout; only a connect or read that ran out of time is
a timeout (504). (The SDK's vendored `httpx_aiohttp` maps a refused connection to `ConnectTimeout`.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping

import aiohttp
import httpx2
from yarl import URL

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


def mapped_error(exc: TimeoutError | aiohttp.ClientError, url: URL) -> BaseException:
    """aiohttp's failure as the httpx2 error the SDK would have raised for the same fault."""
    for source, target in _ERRORS:
        if isinstance(exc, source):
            return target(str(exc) or type(exc).__name__, request=httpx2.Request("POST", str(url)))
    return exc


class _Silence:
    """Fails a reply's read once the upstream has been silent for `seconds` while it is waited on.

    Only a wait counts: while the relay holds a chunk (a slow client pushing back), nothing is
    being read, so the upstream is not silent; aiohttp likewise stops its timer when it pauses.
    The one timer is re-armed when it fires, never per read.
    """

    def __init__(self, content: aiohttp.StreamReader, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.clock = loop.time
        self.since: float | None = None  # when the current wait began; None between waits
        self._loop = loop
        self._content = content
        self._seconds = seconds
        self._timer = loop.call_later(seconds, self._fire)

    def _fire(self) -> None:
        now, since = self._loop.time(), self.since
        if since is not None and now - since >= self._seconds:
            message = f"Timeout on reading data from socket: nothing for {self._seconds:g}s"
            self._content.set_exception(aiohttp.SocketTimeoutError(message))
            return
        self._timer = self._loop.call_at((now if since is None else since) + self._seconds, self._fire)

    def cancel(self) -> None:
        self._timer.cancel()


class UpstreamHTTP:
    """The worker's one aiohttp session, made on first use inside the running event loop."""

    def __init__(
        self,
        *,
        max_connections: int,
        connect_seconds: float,
        read_seconds: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._headers = headers  # sent with every request: the session's defaults, merged in C
        # No total: a long answer is fine as long as bytes keep coming (`sock_read` bounds the wait for
        # the head, `chunks` each wait after it); `connect` bounds the wait for a connection from the
        # pool, as httpx's pool timeout did.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=read_seconds, sock_connect=connect_seconds, sock_read=read_seconds
        )
        self._read_seconds = read_seconds
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=15.0)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers=self._headers,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def post(self, url: URL, headers: dict[str, str] | None, body: bytes) -> aiohttp.ClientResponse:
        """POST `body` with the session's headers and `headers`; the response once its head has arrived."""
        session = self._session
        if session is None or session.closed:
            session = self._session = self._open_session()
        try:
            return await session.post(url, data=body, headers=headers, allow_redirects=False)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise mapped_error(exc, url) from exc

    async def chunks(self, response: aiohttp.ClientResponse) -> AsyncGenerator[bytes]:
        """The body as it arrives, each read handed on at once; `read_seconds` of silence is a timeout.

        aiohttp's `sock_read` cancels and re-makes a timer on every read from the socket, about a
        twentieth of the relay's CPU per delta (py-spy, issue #14). From the head on, one timer per
        reply (`_Silence`) keeps the same bound instead; `sock_read` still bounds the wait for the head.
        """
        content = response.content
        connection = response.connection
        if connection is not None and connection.protocol is not None:
            connection.protocol.read_timeout = None  # its timer already armed still bounds the first wait
        silence = _Silence(content, self._read_seconds)
        read, clock = content.readany, silence.clock
        try:
            while True:
                silence.since = clock()
                data = await read()
                silence.since = None
                if not data:
                    return
                yield data
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise mapped_error(exc, response.url) from exc
        finally:
            silence.cancel()

    @staticmethod
    def close(response: aiohttp.ClientResponse) -> None:
        """Return a finished connection to the pool; drop one whose body was not read to its end.

        Dropping it is what tells the model service to stop generating when the client has gone.
        """
        if response.content.at_eof():
            response.release()
        else:
            response.close()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
