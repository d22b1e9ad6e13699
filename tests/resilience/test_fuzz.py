"""Hostile input against both endpoints of one local host, while a bystander keeps streaming.

Thousands of generated requests: arbitrary JSON, the protocol's shape with wrong types, huge and
odd Unicode (lone surrogates, NUL, astral planes), deep nesting, invalid UTF-8, other encodings,
truncated and padded bodies, odd Accept and Content-Type headers, and Content-Length values that
lie. Every answer must be a clean success or a clean `{"error": ...}` refusal: no 5xx, no
exception text, no hang. Meanwhile a second client streams a known reply over and over, and
every one of its streams must arrive exact.

`make test` runs 4,000 cases (deterministic); `FUZZ_EXAMPLES=20000` runs that many body
cases (and a quarter as many of each other kind), `FUZZ_RANDOM=1` draws new cases each run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.harness import Host, Simulator
from tests.resilience.hostile import Bystander, Verdict, check_answer, raw_exchange

BODY_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3200"))
OTHER_EXAMPLES = max(50, BODY_EXAMPLES // 4)
ENDPOINTS = ("/api/chat", "/api/chat/stream")


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=os.environ.get("FUZZ_RANDOM") != "1",
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )


cases: Counter[str] = Counter()
summary: list[str] = []  # printed by conftest.py at the end of the run


# --- strategies -------------------------------------------------------------------------------

odd_text = st.text(st.characters(exclude_categories=[]), max_size=40)
special_text = st.sampled_from(
    ["", "\x00", "\ud800", "\udfff", "\ud83d\ude80", "\u202e", "\ufeff", "A" * 5000, "é" * 2000, "🚀" * 1000]
)
big_text = st.builds(
    lambda char, n: char * n, st.sampled_from(["a", "é", "日", "🚀", "\x00", "\\", '"']), st.integers(10_000, 400_000)
)
texts = st.one_of(odd_text, odd_text, special_text, big_text)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
    special_text,
)
json_values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4), max_leaves=10
)


def _nest(depth: int, as_list: bool, leaf: object) -> object:
    value = leaf
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


deep_values = st.builds(_nest, st.integers(2, 400), st.booleans(), leaves)  # json.dumps itself stops near 1000
any_value = st.one_of(json_values, json_values, deep_values)
roles = st.one_of(st.sampled_from(["user", "assistant", "system", "User", "tool", ""]), json_values)
good_message = st.fixed_dictionaries({"role": st.just("user"), "content": st.text(max_size=20)})
message = st.one_of(
    good_message,
    st.fixed_dictionaries(
        {"role": roles, "content": st.one_of(texts, json_values)},
        optional={"context": any_value, "name": json_values, "tool_calls": json_values},
    ),
    json_values,
)
messages = st.one_of(
    st.lists(message, max_size=4),
    st.lists(good_message, min_size=95, max_size=110),
    any_value,
)
protocol_bodies = st.fixed_dictionaries(
    {"messages": messages},
    optional={"sessionState": any_value, "session_state": any_value, "context": any_value, "stream": json_values},
)
json_bodies = st.one_of(protocol_bodies, protocol_bodies, any_value)


@st.composite
def encoded(draw: st.DrawFn) -> bytes:
    """A body: JSON in one of several encodings, cut or padded, or bytes that are not JSON at all."""
    kinds = ["ascii", "utf-8", "surrogatepass", "utf-16", "bom", "cut", "pad", "flip", "binary", "deep"]
    how = draw(st.sampled_from(kinds))
    if how == "binary":
        return draw(st.binary(max_size=600))
    if how == "deep":  # written as text: too deep for json.dumps, not for a 1 MiB body
        depth = draw(st.integers(100, 300_000))
        opening, closing = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        where = draw(st.sampled_from([b"sessionState", b"context", b"messages"]))
        return b'{"messages":[{"role":"user","content":"hi"}],"%s":%s1%s}' % (where, opening * depth, closing * depth)
    value = draw(json_bodies)
    if how == "ascii":
        return json.dumps(value).encode()
    text = json.dumps(value, ensure_ascii=False)
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "cut":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if how == "pad":
        return data + draw(st.sampled_from([b" ", b"\n", b"\x00", b",", b"}", b"garbage", b"\xff"]))
    if how == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
accepts = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "text/event-stream",
            "application/x-ndjson",
            "*/*",
            "",
            "TEXT/EVENT-STREAM; q=0.1",
            "application/json, text/event-stream;q=0.9",
            "text/html",
            "text/event-stream" * 500,
        ]
    ),
    header_text,
)
# JSON most of the time, so the bodies reach the parser; anything else must be a 415.
json_content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "Application/JSON;CHARSET=UTF-8", "application/json ;x=y"]
)
content_types = st.one_of(
    json_content_types,
    json_content_types,
    json_content_types,
    st.none(),
    st.sampled_from(
        [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=utf-16",
            "application/xml",
        ]
    ),
    header_text,
)


def declares_json(content_type: str | None) -> bool:
    """The rule, written apart from the app's: application/json, any case, charset absent or UTF-8."""
    if content_type is None:
        return False
    media_type, *parameters = content_type.strip().split(";")
    charsets = [
        v.strip().strip('"').lower()
        for n, _, v in (p.partition("=") for p in parameters)
        if n.strip().lower() == "charset"
    ]
    return media_type.strip().lower() == "application/json" and all(c in ("utf-8", "utf8") for c in charsets)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bystander(host: Host, simulator: Simulator) -> Iterator[Bystander]:
    running = Bystander.start(host.url, simulator)
    log_start = len(host.log)
    yield running
    running.stop()
    summary.append(
        f"fuzz: {sum(cases.values())} hostile requests ({dict(cases)}); "
        f"bystander: {running.streams} streams, {len(running.failures)} failures"
    )
    assert not running.failures, running.failures[:5]
    assert running.streams > 0
    assert "Traceback (most recent call last)" not in host.log[log_start:], host.log[log_start:][-3000:]


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(20.0)) as client:
        yield client


# --- tests ------------------------------------------------------------------------------------


@fuzz_settings(BODY_EXAMPLES)
@given(path=st.sampled_from(ENDPOINTS), body=encoded(), accept=accepts, content_type=content_types)
def test_hostile_bodies_and_headers(
    host: Host,
    http: httpx.Client,
    bystander: Bystander,
    path: str,
    body: bytes,
    accept: str | None,
    content_type: str | None,
) -> None:
    headers = {}
    if accept is not None:
        headers["Accept"] = accept.strip().encode("latin-1")
    if content_type is not None:
        headers["Content-Type"] = content_type.strip().encode("latin-1")
    cases["bodies"] += 1
    try:
        response = http.post(f"{host.url}{path}", content=body, headers=headers)
    except httpx.TimeoutException:
        pytest.fail(f"no answer within 20 s (hang) to {body[:200]!r}")
    event(f"status {response.status_code}")
    try:
        check_answer(
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            streaming=path.endswith("/stream"),
        )
    except Verdict as verdict:
        pytest.fail(f"{path} {headers} {body[:300]!r}: {verdict}")
    sent_type = None if content_type is None else content_type.strip()
    assert (response.status_code == 415) == (not declares_json(sent_type)), (sent_type, response.text[:200])


@fuzz_settings(OTHER_EXAMPLES)
@given(
    path=st.sampled_from(ENDPOINTS),
    body=st.one_of(st.just(b'{"messages":[{"role":"user","content":"hi"}]}'), st.binary(max_size=200)),
    declared=st.one_of(
        st.integers(-5, 5).map(lambda delta: ("delta", delta)),
        st.integers(0, 2**64).map(lambda n: ("value", str(n))),
        st.sampled_from(["", "-1", "abc", "1e3", "+5", "0x10", " 5", "5 ", "٣", "1" * 400, "5, 5", "5,6"]).map(
            lambda v: ("value", v)
        ),
        st.just(("twice", "")),
    ),
)
def test_content_length_lies(
    host: Host, bystander: Bystander, path: str, body: bytes, declared: tuple[str, object]
) -> None:
    """Raw bytes on a socket: a Content-Length that is wrong, malformed, huge or sent twice."""
    cases["content-length"] += 1
    kind, value = declared
    if kind == "delta":
        lengths = [str(max(0, len(body) + int(value)))]  # type: ignore[call-overload]
    elif kind == "twice":
        lengths = [str(len(body)), str(len(body) + 1)]
    else:
        lengths = [str(value)]
    parts = urlsplit(host.url)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json", "Connection: close"]
    head += [f"Content-Length: {length}" for length in lengths]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body
    # A declared length longer than the body leaves the server waiting for the rest, as it
    # should: the client then half-closes, and the server must give up on that request.
    try:
        answer = raw_exchange((parts.hostname, parts.port), request, half_close=True, timeout=10)  # type: ignore[arg-type]
    except Verdict as verdict:
        pytest.fail(f"Content-Length {lengths} with {body[:100]!r}: {verdict}")
    event(f"status {answer.status}")
    if answer.status is not None:
        assert answer.status < 500, f"Content-Length {lengths}: {answer.head!r}"
        assert not any(leak in answer.head for leak in (b"Traceback", b"Exception")), answer.head
