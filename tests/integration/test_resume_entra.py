"""Keyless Redis for resume (CHAT_REDIS_AUTH=entra) over real HTTP, against a redis-server with ACLs.

The app's own azure.identity.aio ManagedIdentityCredential asks a local endpoint that speaks the App
Service / Functions managed identity protocol (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version
2019-08-01) for a token for https://redis.azure.com. The endpoint hands out JWT-shaped tokens with an
`oid` claim and makes the current one the only password of the Redis user named by that oid, as an
Azure Managed Redis access policy assignment does for the app's identity; the default user is off.
redis-py, azure-identity, the host and the app are the real ones. What this cannot show: Azure's own
checks of a token (signature, audience, expiry on the server).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis

from chat.errors import ConfigurationError
from chat.settings import Settings
from dev.host import free_port
from tests.harness import Host, Simulator, host_env, start_host, stop
from tests.integration.redis_server import ensure_installed, redis_server
from tests.integration.test_resume import (
    AI_NDJSON,
    REPLY,
    UI,
    Event,
    cut_and_resume,
    many,
    resume_info,
    text_of,
    wait_for,
)

RESOURCE = "https://redis.azure.com"
ADMIN = ("admin", secrets.token_urlsafe(16))  # the test's own user, to set the ACLs
KEYHOLDER = ("keyholder", secrets.token_urlsafe(16))  # a user with a password, for today's URL form


@dataclass
class Identity:
    oid: str
    lifetime: float  # seconds from when its current token was made; negative: already expired
    assigned: bool = True  # False: the endpoint answers as App Service does for an identity the app lacks
    token: str = ""
    expires_on: float = 0.0
    served: list[str] = field(default_factory=list)  # the tokens handed out, in order


def jwt(claims: dict[str, Any]) -> str:
    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{part(secrets.token_hex(16))}"


class IdentityEndpoint:
    """The managed identity endpoint of App Service and Functions, one identity per client id."""

    def __init__(self, admin: redis.Redis) -> None:
        self.admin = admin
        self.secret = secrets.token_urlsafe(16)
        self.identities: dict[str, Identity] = {}
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = endpoint.answer(self.path, self.headers.get("X-IDENTITY-HEADER"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/msi/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, client_id: str, identity: Identity) -> Identity:
        self.identities[client_id] = identity
        if identity.assigned:
            self.rotate(client_id, identity.lifetime)
        return identity

    def rotate(self, client_id: str, lifetime: float) -> str:
        """A new current token; Redis takes it, and no longer the ones before it."""
        identity = self.identities[client_id]
        with self.lock:
            identity.expires_on = time.time() + lifetime
            identity.token = jwt({"aud": RESOURCE, "oid": identity.oid, "exp": int(identity.expires_on)})
            self.admin.acl_setuser(
                identity.oid,
                enabled=True,
                reset_passwords=True,
                passwords=[f"+{identity.token}"],
                keys=["~*"],
                channels=["*"],
                commands=["+@all"],
            )
        return identity.token

    def answer(self, path: str, secret: str | None) -> tuple[int, dict[str, Any]]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        if secret != self.secret:
            return 401, {"error": "missing or wrong X-IDENTITY-HEADER"}
        if query.get("api-version") != "2019-08-01" or query.get("resource") != RESOURCE:
            return 400, {"error": f"unexpected request {query}"}
        identity = self.identities.get(query.get("client_id", ""))
        if identity is None or not identity.assigned:
            return 400, {"statusCode": 400, "message": "No managed identity found for specified ClientId."}
        with self.lock:
            identity.served.append(identity.token)
            return 200, {
                "access_token": identity.token,
                "expires_on": str(int(identity.expires_on)),
                "resource": RESOURCE,
                "token_type": "Bearer",
                "client_id": query["client_id"],
            }


@pytest.fixture(scope="module")
def redis_with_acls() -> Iterator[tuple[str, redis.Redis]]:
    if why := ensure_installed():
        pytest.skip(f"REDIS RESUME TESTS SKIPPED: {why}")
    with redis_server() as url:
        setup = redis.Redis.from_url(url)
        setup.acl_setuser(
            ADMIN[0], enabled=True, passwords=[f"+{ADMIN[1]}"], keys=["~*"], channels=["*"], commands=["+@all"]
        )
        setup.acl_setuser(
            KEYHOLDER[0], enabled=True, passwords=[f"+{KEYHOLDER[1]}"], keys=["~*"], channels=["*"], commands=["+@all"]
        )
        setup.acl_setuser("default", enabled=False)
        setup.close()
        admin = redis.Redis.from_url(url, username=ADMIN[0], password=ADMIN[1])
        yield url, admin
        admin.close()


@pytest.fixture(scope="module")
def identities(redis_with_acls: tuple[str, redis.Redis]) -> Iterator[IdentityEndpoint]:
    endpoint = IdentityEndpoint(redis_with_acls[1])
    yield endpoint
    endpoint.server.shutdown()


def entra_env(simulator: Simulator, endpoint: IdentityEndpoint, redis_url: str, client_id: str) -> dict[str, str]:
    env = host_env(
        simulator,
        CHAT_RESUME="redis",
        CHAT_REDIS_URL=redis_url,  # no user, no password
        CHAT_REDIS_AUTH="entra",
        AZURE_CLIENT_ID=client_id,
        IDENTITY_ENDPOINT=endpoint.url,
        IDENTITY_HEADER=endpoint.secret,
    )
    for other_identity_source in ("MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT"):
        env.pop(other_identity_source, None)
    return env


FAULTS: dict[str, tuple[Callable[[], Identity], str]] = {
    # The token names an object id that has no access policy assignment: Redis refuses it.
    "wrong-oid": (lambda: Identity(str(uuid.uuid4()), 3600), "invalid username-password pair"),
    # Redis would take this one (the test shows it), but it has expired: the app does not send it.
    "expired": (lambda: Identity(str(uuid.uuid4()), -60), "has already expired"),
    # The app's identity is not on the function app: the endpoint has no token to give.
    "unassigned": (lambda: Identity(str(uuid.uuid4()), 3600, assigned=False), "No managed identity found"),
}


@pytest.fixture(scope="module")
def hosts(
    simulator: Simulator, identities: IdentityEndpoint, redis_with_acls: tuple[str, redis.Redis]
) -> Iterator[dict[str, Host]]:
    url, _ = redis_with_acls
    envs = {"app": entra_env(simulator, identities, url, "app")}
    identities.add("app", Identity(str(uuid.uuid4()), 3600))
    for name, (make, _) in FAULTS.items():
        envs[name] = entra_env(simulator, identities, url, name)
        identity = identities.add(name, make())
        if name == "wrong-oid":  # a token Redis has never been told of
            identities.admin.acl_deluser(identity.oid)
    with_password = url.replace("redis://", f"redis://{KEYHOLDER[0]}:{KEYHOLDER[1]}@")
    envs["password"] = host_env(simulator, CHAT_RESUME="redis", CHAT_REDIS_URL=with_password)
    with ThreadPoolExecutor(len(envs)) as pool:
        started = dict(zip(envs, pool.map(start_host, envs.values()), strict=True))
    yield started
    for host in started.values():
        stop(host.process)


def connections_of(admin: redis.Redis, user: str) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in admin.client_list() if c["user"] == user}


# --- Signed in with the token: resumable through Redis ---------------------------------------------


@pytest.mark.parametrize("route", [AI_NDJSON, UI], ids=str)
def test_a_stream_resumes_exactly_through_redis_signed_in_with_the_apps_token(
    hosts: dict[str, Host], simulator: Simulator, identities: IdentityEndpoint, redis_with_acls, route
):
    for seed in range(4):
        cut_and_resume(hosts["app"], hosts["app"], simulator, route, 5000 + seed)
    app = identities.identities["app"]
    assert app.served and set(app.served) == {app.token}  # asked the endpoint, got the one token
    signed_in = connections_of(redis_with_acls[1], app.oid)
    assert signed_in, "the app's connections are the oid's (the default user is off)"


def test_a_url_with_a_password_keeps_todays_behaviour(
    hosts: dict[str, Host], simulator: Simulator, identities: IdentityEndpoint, redis_with_acls
):
    asked = {client_id: len(identity.served) for client_id, identity in identities.identities.items()}
    cut_and_resume(hosts["password"], hosts["password"], simulator, AI_NDJSON, 6000)
    assert connections_of(redis_with_acls[1], KEYHOLDER[0]), "signed in with the URL's user and password"
    assert {client_id: len(identity.served) for client_id, identity in identities.identities.items()} == asked


# --- No usable token: the stream goes on without resume and says so ------------------------------


def plain_events(text: str) -> list[Event]:
    """A stream without resume carries no ids: its payloads alone."""
    lines = (raw.removeprefix("data: ") for raw in text.split("\n"))
    return [Event(0, line if line == "[DONE]" else json.loads(line)) for line in lines if line.strip()]


@pytest.mark.parametrize("fault", FAULTS, ids=str)
@pytest.mark.parametrize("route", [AI_NDJSON, UI], ids=str)
def test_without_a_usable_token_the_stream_completes_without_resume(
    hosts: dict[str, Host], simulator: Simulator, identities: IdentityEndpoint, redis_with_acls, fault: str, route
):
    host, identity = hosts[fault], identities.identities[fault]
    marker = simulator.rule(reply=REPLY)
    with httpx.Client(timeout=30) as client:
        response = client.post(f"{host.url}{route.path}", json=route.body(marker), headers={"Accept": route.accept})
    assert response.status_code == 200
    events = plain_events(response.text)
    assert resume_info(route, events[0]) == {"available": False}
    assert text_of(events) == REPLY == simulator.record(marker)["reply"]
    wait_for(lambda: FAULTS[fault][1] in host.log, f"the cause ({FAULTS[fault][1]!r}) in the log", timeout=30)
    assert "resume unavailable for request" in host.log
    if identity.assigned:
        assert identity.served, "the app asked for a token"
    if fault == "expired":  # the refusal is the app's own expiry check: Redis would have taken it
        with redis.Redis.from_url(redis_with_acls[0], username=identity.oid, password=identity.token) as direct:
            assert direct.ping() is True


def test_an_entra_url_with_a_password_or_an_unknown_mode_is_a_named_setting_error():
    with pytest.raises(ConfigurationError, match=r"CHAT_REDIS_AUTH=entra .* no user name or password"):
        Settings.from_env(
            {"CHAT_RESUME": "redis", "CHAT_REDIS_AUTH": "entra", "CHAT_REDIS_URL": "rediss://:key@x.example:10000"}
        )
    with pytest.raises(ConfigurationError, match="CHAT_REDIS_AUTH must be one of url, entra"):
        Settings.from_env(
            {"CHAT_RESUME": "redis", "CHAT_REDIS_URL": "rediss://x.example:10000", "CHAT_REDIS_AUTH": "key"}
        )
    settings = Settings.from_env({"CHAT_RESUME": "redis", "CHAT_REDIS_URL": "rediss://x.example:10000"})
    assert settings.redis_auth == "url"


# --- A new token re-authenticates the connections the app already has -------------------------------


@pytest.fixture
def refreshing_host(
    simulator: Simulator, identities: IdentityEndpoint, redis_with_acls: tuple[str, redis.Redis]
) -> Iterator[tuple[Host, Identity]]:
    # Two minutes: inside azure-identity's five-minute renewal window from the start, so it hands out a
    # new token as soon as its 30 s between requests have passed.
    identity = identities.add("refreshing", Identity(str(uuid.uuid4()), 120))
    host = start_host(entra_env(simulator, identities, redis_with_acls[0], "refreshing"))
    yield host, identity
    stop(host.process)


def test_a_new_token_re_authenticates_the_open_connections_and_moves_the_subscription(
    refreshing_host: tuple[Host, Identity], simulator: Simulator, identities: IdentityEndpoint, redis_with_acls
):
    host, identity = refreshing_host
    admin = redis_with_acls[1]
    many(host, host, simulator, AI_NDJSON, 4, 7000)  # several at once: several pooled connections
    first_token = identity.token
    before = connections_of(admin, identity.oid)
    subscribed = {i for i, c in before.items() if c["sub"] != "0"}
    pooled = set(before) - subscribed
    assert len(subscribed) == 1 and len(pooled) >= 2, before

    second_token = identities.rotate("refreshing", 3600)  # Redis now takes this token only
    admin.acl_log_reset()
    wait_for(lambda: "re-authenticated with a new Entra ID token" in host.log, "the re-authentication", timeout=120)

    assert identity.served[0] == first_token and identity.served[-1] == second_token
    after = connections_of(admin, identity.oid)
    now_subscribed = {i for i, c in after.items() if c["sub"] != "0"}
    # The subscription moved off the connection signed in with the old token, which is gone.
    assert len(now_subscribed) == 1 and not now_subscribed & subscribed and not subscribed & set(after), after
    # The other connections are the same ones, their last command an AUTH that Redis took (no failure
    # logged), and Redis takes only the new token now. (The new subscription may reuse one of them.)
    idle = pooled - now_subscribed
    assert pooled <= set(after) and idle and {after[i]["cmd"] for i in idle} == {"auth"}, after
    assert [entry for entry in admin.acl_log() if entry["username"] == identity.oid] == []

    cut_and_resume(host, host, simulator, AI_NDJSON, 7001)
    # A cancel reaches the generating instance through the new subscription.
    marker = simulator.rule(tokens=400, token_ms=20)
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{host.url}/api/chat/stream", json=AI_NDJSON.body(marker)) as live,
    ):
        lines = live.iter_lines()
        info = resume_info(AI_NDJSON, Event(1, json.loads(next(lines))))
        cancelled = client.post(f"{host.url}{info['url']}/cancel", headers={"X-Resume-Token": info["token"]})
        assert cancelled.status_code == 204
        rest = [json.loads(line) for line in lines if line]
    assert rest[-1]["error"]["code"] == "cancelled"
    assert simulator.wait_for(marker, lambda r: r["ended_at"] is not None)["closed_early"]
