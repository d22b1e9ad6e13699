"""Bodies over CHAT_MAX_BODY_BYTES, on a raw socket: the host answers 413 without reading them.

A declared Content-Length over the limit is refused on the header alone; a chunked body that
never ends is refused once the limit is passed. Either way promptly, and without reading on.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from tests.harness import Host
from tests.resilience.hostile import raw_exchange

ENDPOINTS = ("/api/chat", "/api/chat/stream")
LIMIT = 1024 * 1024  # the default CHAT_MAX_BODY_BYTES, which the shared host runs with


def _address(host: Host) -> tuple[str, int]:
    parts = urlsplit(host.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _head(host: Host, path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {urlsplit(host.url).netloc}", "Content-Type: application/json"]
    return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_huge_declared_length_is_refused_on_the_header(host: Host, path: str) -> None:
    # 1 TB declared, 64 KiB sent, and more sent while waiting: the answer must not wait for it.
    request = _head(host, path, f"Content-Length: {10**12}") + b"x" * 65536
    answer = raw_exchange(_address(host), request, keep_sending=b"x" * 65536, timeout=10)
    assert answer.status == 413, answer.head
    assert answer.seconds < 2, f"413 took {answer.seconds:.2f} s"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_chunked_body_that_never_ends_is_refused(host: Host, path: str) -> None:
    chunk = b"%x\r\n%s\r\n" % (65536, b"[" * 65536)
    request = _head(host, path, "Transfer-Encoding: chunked") + chunk
    answer = raw_exchange(_address(host), request, keep_sending=chunk, timeout=10)
    assert answer.status == 413, answer.head
    assert answer.seconds < 3, f"413 took {answer.seconds:.2f} s"


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(("size", "refused"), [(LIMIT, False), (LIMIT + 1, True)])
def test_limit_is_exact(host: Host, path: str, size: int, refused: bool) -> None:
    request = b'{"messages":[{"role":"user","content":"hi"}]}'
    body = request + b" " * (size - len(request))  # trailing whitespace: still valid JSON
    started = time.monotonic()
    answer = raw_exchange(_address(host), _head(host, path, f"Content-Length: {size}", "Connection: close") + body)
    assert answer.status == (413 if refused else 200), answer.head
    assert time.monotonic() - started < 5
