"""Per-client limits, counted in this instance: requests and tokens in any 60 seconds, requests in flight.

The client is the address the platform saw, never one the client can choose. In Azure the request
passes the App Service front end, then the Functions host, whose proxy to the worker (YARP, in
`DefaultHttpProxyService`) *sets* `X-Forwarded-For` to the address it received the request from,
replacing whatever the client sent (YARP's default X-Forwarded transform is `Set`). So the right-most
`X-Forwarded-For` entry is the one the last trusted hop wrote: a client can only add entries to its
left. Without the header (a direct connection), the connection's peer is the client.

Tokens are counted before they are spent: a request reserves the most it can cost (its input in
UTF-8 bytes, which no tokenizer exceeds, plus the output cap) when it is admitted, and settles to
the upstream's usage count when it ends. A request that ends without a usage count (the client left,
the stream broke) keeps its reservation, since its tokens may have been billed; one refused before
the model ran costs nothing. So a client never gets more than `CHAT_CLIENT_TOKENS_PER_MINUTE`
admitted in any 60 seconds, whatever its requests turn out to cost.

Memory is bounded: at most `MAX_CLIENTS` clients are remembered (the least recently seen is
forgotten first, which at worst gives it a fresh quota), and each remembers at most one entry per
request admitted in the last minute.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from chat import errors
from chat.settings import Settings

WINDOW_SECONDS = 60.0
MAX_CLIENTS = 10_000
# IPv6 clients get a /64 (or more) each: keying by the whole address would give one client 2**64 quotas.
IPV6_PREFIX = 64

# Fresh for each process and never stored: the record's client ids cannot be turned back into
# addresses (an IPv4 hash with a known key falls to brute force), nor matched across instances.
_HASH_KEY = secrets.token_bytes(32)


def client_address(forwarded_for: list[str], peer: str | None) -> str:
    """The address the last trusted hop saw: the right-most `X-Forwarded-For` entry, else the peer."""
    entries = [e.strip() for line in forwarded_for for e in line.split(",") if e.strip()]
    address = _without_port(entries[-1]) if entries else (peer or "")
    try:  # the common case, in C: an IPv4 address inet_pton accepts is already in its canonical form
        socket.inet_pton(socket.AF_INET, address)
        return address
    except (OSError, ValueError):
        pass
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"  # not an address: still the hop's word, so still a key
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # a dual-stack socket's view of an IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def _without_port(entry: str) -> str:
    """`1.2.3.4:5678` and `[2001:db8::1]:443` (App Service's front end writes ports) to the address alone."""
    if entry.startswith("["):
        return entry[1 : entry.find("]")] if "]" in entry else entry
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


def client_id(address: str) -> str:
    """A keyed hash of the address: what the request record carries, and what the limits count by."""
    return hashlib.blake2b(address.encode(), key=_HASH_KEY, digest_size=8).hexdigest()


@dataclass(slots=True, eq=False)  # found in the window by identity
class _Admission:
    at: float
    tokens: int = 0


@dataclass(slots=True)
class _Client:
    window: deque[_Admission] = field(default_factory=deque)  # admissions of the last minute, oldest first
    in_flight: int = 0

    def forget_before(self, cutoff: float) -> None:
        window = self.window
        while window and window[0].at <= cutoff:
            window.popleft()


class Limiter:
    """The clients of this process and what each has used."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._clock = clock

    def __len__(self) -> int:
        return len(self._clients)

    def admit(self, key: str, settings: Settings) -> Ticket:
        """Admit one request of `key`'s, or raise the 429 naming the limit it would break."""
        client, admission = self._count(key, settings, streams=settings.client_concurrent_streams)
        client.in_flight += 1
        return Ticket(self, client, admission, settings)

    def count(self, key: str, settings: Settings) -> None:
        """Count a request that starts no generation (a resume, a cancel): against the request rate only."""
        self._count(key, settings, streams=0)

    def _count(self, key: str, settings: Settings, streams: int) -> tuple[_Client, _Admission]:
        now = self._clock()
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = _Client()
            if len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        client.forget_before(now - WINDOW_SECONDS)
        if streams and client.in_flight >= streams:
            raise errors.too_many_streams(streams)
        admission = _Admission(now)
        rpm = settings.client_requests_per_minute
        if rpm:
            window = client.window
            if len(window) >= rpm:
                raise errors.too_many_requests(rpm, _seconds_until(window[len(window) - rpm].at, now))
            window.append(admission)
        return client, admission


class Ticket:
    """One admitted request: its reservation, and its slot until `close`."""

    __slots__ = ("_admission", "_client", "_limiter", "_open", "_settings")

    def __init__(self, limiter: Limiter, client: _Client, admission: _Admission, settings: Settings) -> None:
        self._limiter = limiter
        self._client = client
        self._admission = admission
        self._settings = settings
        self._open = True

    def reserve(self, tokens: int) -> None:
        """Reserve the most the request can cost, or raise 429 if the client's minute cannot hold it."""
        limit = self._settings.client_tokens_per_minute
        if not limit:
            return
        now = self._limiter._clock()
        client = self._client
        client.forget_before(now - WINDOW_SECONDS)
        window = client.window
        used = sum(a.tokens for a in window)
        if used + tokens > limit:
            # The wait: until enough of the oldest reservations leave the window.
            excess, freed, until = used + tokens - limit, 0, now
            for admission in window:
                freed, until = freed + admission.tokens, admission.at
                if freed >= excess:
                    break
            raise errors.too_many_tokens(limit, _seconds_until(until, now))
        admission = self._admission
        if admission not in window:  # not counted yet (no request limit), or its minute is already over
            admission.at = now
            window.append(admission)
        admission.tokens = tokens

    def close(self, used: int | None) -> None:
        """The request is over: free its slot, and settle its tokens (`None`: not known, keep the reservation)."""
        if not self._open:
            return
        self._open = False
        self._client.in_flight -= 1
        if used is not None:
            self._admission.tokens = used


def _seconds_until(admitted_at: float, now: float) -> int:
    return max(1, math.ceil(admitted_at + WINDOW_SECONDS - now))


limiter = Limiter()
