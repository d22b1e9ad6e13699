"""Inputs the fuzz found answered with a 500 (msgspec raises UnicodeDecodeError and RecursionError,
not DecodeError, for them), kept as regression tests now that they are 400s.
"""

from __future__ import annotations

import httpx
import pytest

from tests.harness import Host
from tests.resilience.hostile import check_answer

ENDPOINTS = ("/api/chat", "/api/chat/stream")
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        b'{"messages":[{"role":"user","content":"\xff"}]}',
        b'{"messages":[{"role":"user","content":"caf\xc3"}]}',
        b'{"messages":[{"role":"user","content":"\xed\xa0\x80"}]}',  # a lone surrogate, UTF-8-encoded
        b'{"messages":[{"role":"user","content":"hi"}],"sessionState":{"k\xfe":1}}',
    ],
    ids=["ff", "cut-sequence", "surrogate", "in-a-key"],
)
def test_invalid_utf8_inside_a_string_is_a_client_error(host: Host, path: str, body: bytes) -> None:
    response = httpx.post(f"{host.url}{path}", content=body, headers=JSON, timeout=20)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "body"
    check_answer(response.status_code, response.headers["content-type"], response.content, streaming=False)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("depth", [65, 1000, 9990, 100_000])
@pytest.mark.parametrize(
    ("field", "blamed"),
    [
        ("sessionState", ("sessionState", "body")),
        ("context", ("context", "body")),
        ("messages", ("messages[0]", "body")),
    ],
)
def test_deeply_nested_json_is_a_client_error(host: Host, path: str, depth: int, field: str, blamed: tuple) -> None:
    """Past the decoder's limit (about 10,000 levels on 3.13) the body is refused; below it, the field is."""
    body = b'{"messages":[{"role":"user","content":"hi"}],"%s":%s1%s}' % (field.encode(), b"[" * depth, b"]" * depth)
    response = httpx.post(f"{host.url}{path}", content=body, headers=JSON, timeout=20)
    if field == "context" and depth <= 9000:  # an object is required: a list is the wrong type at any depth
        blamed = ("context",)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] in blamed
    check_answer(response.status_code, response.headers["content-type"], response.content, streaming=False)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_nesting_within_the_limit_is_answered(host: Host, path: str) -> None:
    """The other side of the limit: 64 levels of sessionState decode, stream and echo back."""
    depth = 63  # inside the top-level object's list: 64 levels of sessionState
    body = b'{"messages":[{"role":"user","content":"hi"}],"sessionState":%s1%s}' % (b"[" * depth, b"]" * depth)
    response = httpx.post(f"{host.url}{path}", content=body, headers=JSON, timeout=20)
    check_answer(
        response.status_code, response.headers["content-type"], response.content, streaming=path.endswith("stream")
    )
    assert response.status_code == 200
