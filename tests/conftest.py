from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Host, Simulator, host_env, start_host, start_simulator, stop


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator("--ttft-ms", "20", "--token-ms", "2", "--tokens", "40", "--api-key", "sim-key")
    yield sim
    stop(sim.process)


@pytest.fixture(scope="session", params=["responses", "chat_completions"])
def host(request: pytest.FixtureRequest, simulator: Simulator) -> Iterator[Host]:
    """The app on each upstream API in turn: every test through it holds for both."""
    started = start_host(host_env(simulator, CHAT_UPSTREAM_API=request.param))
    yield started
    stop(started.process)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c
