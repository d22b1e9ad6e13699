"""Every bad input gets a clear 4xx naming the field, on both endpoints, never a 500."""

import socket
from urllib.parse import urlsplit

import pytest

from tests.harness import Host

ENDPOINTS = ["/api/chat", "/api/chat/stream"]
JSON = {"Content-Type": "application/json"}

CASES = [
    (b"{oops", "body"),
    (b'"a string"', "body"),
    (b"[1, 2]", "body"),
    (b"\xff\xfe\xfd", "body"),
    (b"{}", "messages"),
    (b'{"messages": {"role": "user"}}', "messages"),
    (b'{"messages": []}', "messages"),
    (b'{"messages": [42]}', "messages[0]"),
    (b'{"messages": [{"role": "tool", "content": "x"}]}', "messages[0].role"),
    (b'{"messages": [{"role": "user", "content": ["x"]}]}', "messages[0].content"),
    (b'{"messages": [{"role": "user", "content": null}]}', "messages[0].content"),
    (b'{"messages": [{"role": "user", "content": "x"}], "context": "c"}', "context"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("body", "field"), CASES)
def test_bad_body_is_a_400_naming_the_field(host: Host, client, endpoint, body, field):
    response = client.post(f"{host.url}{endpoint}", content=body, headers=JSON)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] == field
    assert error["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_too_many_messages_and_bytes(host: Host, client, endpoint):
    many = {"messages": [{"role": "user", "content": "x"}] * 101}
    response = client.post(f"{host.url}{endpoint}", json=many)
    assert response.status_code == 400 and response.json()["error"]["field"] == "messages"
    assert "100" in response.json()["error"]["message"]
    # The input limit counts UTF-8 bytes (CHAT_MAX_INPUT_BYTES, 32768): 16,385 two-byte characters
    # are over it though far fewer characters, and the same bytes less one character pass.
    for content, status in (("é" * 16_384, 200), ("é" * 16_385, 400)):
        conversation = {"messages": [{"role": "user", "content": content}]}
        response = client.post(f"{host.url}{endpoint}", json=conversation)
        assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == "messages" and "32768 bytes" in error["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/jsonx",
        "application/json; charset=latin-1",
        "application/vnd.api+json",
    ],
)
def test_anything_but_json_is_a_415(host: Host, client, endpoint, content_type):
    """What a page on another origin can send without a CORS preflight (fetch text/plain, sendBeacon)
    must not reach the model; nor any other type that is not JSON."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = b'{"messages":[{"role":"user","content":"hi"}]}'
    response = client.post(f"{host.url}{endpoint}", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON", "application/json; charset=utf-8", "APPLICATION/JSON;CHARSET=UTF-8"],
)
def test_json_with_or_without_charset_is_accepted(host: Host, client, endpoint, content_type):
    body = b'{"messages":[{"role":"user","content":"hi"}]}'
    response = client.post(f"{host.url}{endpoint}", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_body_over_the_limit_is_a_413(host: Host, client, endpoint):
    response = client.post(f"{host.url}{endpoint}", content=b" " * (1024 * 1024 + 1), headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "body_too_large",
        "message": "The request body may be at most 1048576 bytes.",
        "field": "body",
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_huge_declared_body_is_refused_without_being_read(host: Host, endpoint):
    """Send only the headers of a 10 GB body: the answer must come without the body."""
    parts = urlsplit(host.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"POST {endpoint} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: 10000000000\r\n\r\n".encode()
        )
        answer = b""
        while b"body_too_large" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"body_too_large" in answer


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_chunked_body_over_the_limit_is_refused(host: Host, client, endpoint):
    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    response = client.post(f"{host.url}{endpoint}", content=chunks(), headers=JSON)
    assert response.status_code == 413


def test_wrong_method_and_unknown_route(host: Host, client):
    # The Functions host routes by method too: another method is no route, a 404 with an empty body.
    for response in (client.get(f"{host.url}/api/chat"), client.post(f"{host.url}/api/nope", json={})):
        assert (response.status_code, response.content) == (404, b"")
