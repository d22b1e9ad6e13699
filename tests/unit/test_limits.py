"""The limiter's arithmetic on a clock the test moves, the client key, and the memory bound."""

from __future__ import annotations

import contextlib
import hashlib
import tracemalloc

import pytest

from chat.errors import ChatError, ConfigurationError
from chat.limits import MAX_CLIENTS, Limiter, client_address, client_id
from chat.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(call: object) -> ChatError:
    with pytest.raises(ChatError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.status == 429
    return caught.value


@pytest.mark.parametrize(
    ("lines", "peer", "key"),
    [
        ([], "203.0.113.5", "203.0.113.5"),  # a direct connection: the peer
        (["203.0.113.5"], "127.0.0.1", "203.0.113.5"),  # what the Functions host's proxy sets
        (["198.51.100.1, 198.51.100.2, 203.0.113.5"], "127.0.0.1", "203.0.113.5"),  # the client's own entries: left
        (["198.51.100.1", "203.0.113.5"], None, "203.0.113.5"),  # two header lines: the last one's last entry
        (["203.0.113.5:49828"], None, "203.0.113.5"),  # App Service's front end writes the port
        (["[2001:db8:1:2:3:4:5:6]:443"], None, "2001:db8:1:2::/64"),
        (["2001:db8:1:2:aaaa::1"], None, "2001:db8:1:2::/64"),  # one /64, one client
        (["::ffff:203.0.113.5"], None, "203.0.113.5"),  # a dual-stack socket's view of IPv4
        (["not-an-address"], None, "not-an-address"),
        ([" , "], None, "unknown"),
        ([], None, "unknown"),
    ],
)
def test_the_client_is_the_right_most_forwarded_entry(lines: list[str], peer: str | None, key: str):
    assert client_address(lines, peer) == key


def test_client_ids_are_keyed_hashes():
    assert client_id("203.0.113.5") == client_id("203.0.113.5") != client_id("203.0.113.6")
    unkeyed = hashlib.blake2b(b"203.0.113.5", digest_size=8).hexdigest()
    assert len(client_id("203.0.113.5")) == len(unkeyed) and client_id("203.0.113.5") != unkeyed


def test_requests_a_minute_slide_with_the_clock():
    clock, settings = Clock(), Settings(client_requests_per_minute=3, client_concurrent_streams=0)
    limiter = Limiter(clock)
    for _ in range(3):
        limiter.admit("a", settings).close(0)
        clock.now += 10
    error = refused(lambda: limiter.admit("a", settings))
    assert error.code == "too_many_requests" and error.retry_after == 30  # the first leaves the window at +60
    limiter.admit("b", settings)  # another client
    clock.now += 30
    limiter.admit("a", settings)


def test_requests_in_flight_until_closed():
    settings = Settings(client_requests_per_minute=0, client_concurrent_streams=2)
    limiter = Limiter(Clock())
    first, second = limiter.admit("a", settings), limiter.admit("a", settings)
    assert refused(lambda: limiter.admit("a", settings)).code == "too_many_streams"
    first.close(None)
    first.close(None)  # closing twice frees one slot, not two
    third = limiter.admit("a", settings)
    assert refused(lambda: limiter.admit("a", settings)).code == "too_many_streams"
    second.close(0)
    third.close(0)


def test_tokens_are_reserved_then_settled():
    clock = Clock()
    settings = Settings(client_tokens_per_minute=40_000, client_concurrent_streams=0)
    limiter = Limiter(clock)
    running = limiter.admit("a", settings)
    running.reserve(30_000)
    clock.now += 5
    error = refused(lambda: limiter.admit("a", settings).reserve(20_000))
    assert error.code == "too_many_tokens" and error.retry_after == 55
    limiter.admit("a", settings).reserve(10_000)  # what is left fits
    running.close(2_000)  # the upstream counted 2,000
    limiter.admit("a", settings).reserve(20_000)
    kept = limiter.admit("a", settings)
    kept.reserve(8_000)
    kept.close(None)  # no count (the client left): the reservation stays
    refused(lambda: limiter.admit("a", settings).reserve(1))
    clock.now += 60
    limiter.admit("a", settings).reserve(40_000)  # a new minute


def test_no_request_limit_keeps_only_reservations():
    settings = Settings(client_requests_per_minute=0, client_concurrent_streams=0, client_tokens_per_minute=40_000)
    limiter = Limiter(Clock())
    for _ in range(10_000):  # refused ones leave nothing behind
        with contextlib.suppress(ChatError):
            limiter.admit("a", settings).reserve(10_000)
    assert len(limiter._clients["a"].window) == 4


def test_memory_is_bounded_by_the_number_of_clients():
    """Full windows for more than MAX_CLIENTS clients: MAX_CLIENTS are remembered, about 2 KB each."""
    clock, settings = Clock(), Settings()
    limiter = Limiter(clock)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(MAX_CLIENTS + 500):
            key = client_id(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
            for _ in range(settings.client_requests_per_minute):
                ticket = limiter.admit(key, settings)
                ticket.reserve(5_000)
                ticket.close(100)
            clock.now += 0.0001
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(limiter) == MAX_CLIENTS
    print(f"limiter: {used / len(limiter):.0f} bytes a client with a full minute, {used / 1e6:.1f} MB in all")
    assert used / len(limiter) < 2_500


def test_the_token_limit_must_hold_the_largest_request():
    with pytest.raises(ConfigurationError, match="CHAT_CLIENT_TOKENS_PER_MINUTE must be 0 \\(off\\) or at least 37680"):
        Settings.from_env({"CHAT_CLIENT_TOKENS_PER_MINUTE": "20000"})
    assert Settings.from_env({}).largest_request_tokens == 32_768 + 8 * 100 + 16 + 4_096
    with_prompt = Settings.from_env({"CHAT_SYSTEM_PROMPT": "Be kind.", "CHAT_CLIENT_TOKENS_PER_MINUTE": "0"})
    assert with_prompt.largest_request_tokens == 37_680 + len("Be kind.") + 8


def test_the_old_character_limit_is_named_as_ignored():
    settings = Settings.from_env({"CHAT_MAX_CHARACTERS": "100000"})
    assert any("CHAT_MAX_CHARACTERS is ignored" in w for w in settings.warnings)
