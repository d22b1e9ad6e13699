"""Starts the simulator and the local host as real processes on loopback, and talks to them over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from dev.host import free_port

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"(?:ready on|Local Functions host ready on) (http://[\d.]+:\d+)")


def _start(args: list[str], env: dict[str, str], ready_timeout: float = 30) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + ready_timeout
    output: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if match := READY.search(line):
            _drain(process, output)
            return process, match.group(1)
    process.kill()
    raise RuntimeError(f"{' '.join(args)} did not start:\n{''.join(output)}")


def _drain(process: subprocess.Popen[str], output: list[str]) -> None:
    """Keep reading the child's output so a full pipe never blocks it."""
    import threading

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            process.log.append(line)  # type: ignore[attr-defined]

    process.log = output  # type: ignore[attr-defined]
    threading.Thread(target=pump, daemon=True).start()


@dataclass
class Simulator:
    url: str
    process: subprocess.Popen[str]

    def rule(self, **fields: Any) -> str:
        """Add a rule for requests whose last user message holds a fresh marker; return that marker."""
        marker = fields.pop("match", None) or f"[{uuid.uuid4().hex[:12]}]"
        response = httpx.post(f"{self.url}/_sim/rules", json={"match": marker, **fields})
        if response.status_code != 200:
            raise AssertionError(f"the simulator refused the rule: {response.text}")
        return marker

    def records(self, marker: str | None = None) -> list[dict[str, Any]]:
        """Every upstream request, or those whose body holds `marker` anywhere (`messages`, `input`, ...)."""
        records = httpx.get(f"{self.url}/_sim/requests").json()
        if marker is None:
            return records
        return [r for r in records if marker in json.dumps(r["body"], ensure_ascii=False)]

    def record(self, marker: str) -> dict[str, Any]:
        found = self.records(marker)
        assert len(found) == 1, f"expected one upstream request for {marker}, got {len(found)}"
        return found[0]

    def wait_for(self, marker: str, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.records(marker)
            if found and predicate(found[-1]):
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"upstream record for {marker} never matched: {found}")
            time.sleep(0.02)


@dataclass
class Host:
    url: str
    process: subprocess.Popen[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return "".join(self.process.log)  # type: ignore[attr-defined]

    def request_records(self) -> list[dict[str, Any]]:
        """The request records logged so far (chat/telemetry.py), parsed: their JSON's spacing is not the contract."""
        return [record for line in self.log.splitlines() if RECORD in line for record in _records(line)]

    def request_record(self, request_id: str, timeout: float = 10) -> dict[str, Any]:
        """One request's record, waiting for it: its batch is logged within a second of the response's end."""
        line = self.logged(RECORD, request_id, timeout=timeout)
        return next(record for record in _records(line) if record["request_id"] == request_id)

    def logged(self, *fragments: str, timeout: float = 10) -> str:
        """The first log line holding every fragment, waiting for it: the log is read from a pipe by a
        thread of this process, so a line the host wrote before answering may arrive after the answer."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log.splitlines():
                if all(fragment in line for fragment in fragments):
                    return line
            assert time.monotonic() < deadline, f"no log line with {fragments}"
            time.sleep(0.05)


RECORD = "chat requests ["  # how chat/telemetry.py's line of records starts


def _records(line: str) -> list[dict[str, Any]]:
    return json.loads(line[line.index(RECORD) + len(RECORD) - 1 :])


def start_simulator(*args: str) -> Simulator:
    process, url = _start(["-m", "dev.simulator", "--port", "0", *args], dict(os.environ))
    return Simulator(url, process)


def host_env(simulator: Simulator | None, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "OPENAI_", "LOCAL_OPENAI_", "CHAT_"))}
    if simulator is not None:
        env.update(
            AZURE_OPENAI_ENDPOINT=simulator.url,
            AZURE_OPENAI_CHAT_DEPLOYMENT="chat-sim",
            AZURE_OPENAI_API_KEY="sim-key",
        )
    env.update(CHAT_HEARTBEAT_SECONDS="1", CHAT_UPSTREAM_MAX_RETRY_WAIT_SECONDS="3", PYTHONUNBUFFERED="1")
    # Every test client is one loopback address: per-client limits off unless a test turns them on.
    env.update(
        CHAT_CLIENT_REQUESTS_PER_MINUTE="0", CHAT_CLIENT_CONCURRENT_STREAMS="0", CHAT_CLIENT_TOKENS_PER_MINUTE="0"
    )
    env.update(overrides)
    return env


def start_host(env: dict[str, str], *args: str) -> Host:
    port = free_port()
    process, url = _start(
        ["-m", "dev.host", "--port", str(port), "--settings", str(ROOT / "tests" / "local.settings.test.json"), *args],
        env,
    )
    return Host(url, process, env)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def user(content: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **extra}


def ndjson_events(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n"), "every NDJSON line must end with a newline"
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def sse_events(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        data = [line[len("data: ") :] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


def joined_content(events: list[dict[str, Any]]) -> str:
    return "".join(e.get("delta", {}).get("content", "") for e in events if "error" not in e)
