"""What resume costs: host CPU per stream and per delta with CHAT_RESUME off, memory and redis.

    python -m tests.load.resume_cost                       # 300 streams of 200 deltas, 8 at a time
    python -m tests.load.resume_cost --streams 600 --tokens 400

For each mode it starts the simulator's peer (one shared simulator), a fresh local host (and, for
redis, Debian's redis-server on a free loopback port), streams the same answers through it, checks
every text is exact, and reads the CPU seconds the host's process tree (plus redis-server) used,
from /proc. The figures are CPU, not latency: live delivery never waits on the store by design.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.harness import host_env, start_host, start_simulator, stop
from tests.integration.redis_server import ensure_installed, redis_server

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> float:
    """User + system CPU of `root` and every live descendant, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    total = 0.0
    for pid, seconds in times.items():
        ancestor = pid
        while ancestor not in (0, 1) and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            total += seconds
    return total


async def stream_all(url: str, marker: str, reply: str, streams: int, concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one() -> None:
            async with limit:
                response = await client.post(
                    f"{url}/api/chat/stream", json={"messages": [{"role": "user", "content": marker}]}
                )
                got = "".join(
                    json.loads(line)["delta"].get("content", "") for line in response.text.split("\n") if line.strip()
                )
                assert got == reply, "a stream lost or changed text"

        await asyncio.gather(*(one() for _ in range(streams)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.load.resume_cost", description=__doc__)
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    simulator = start_simulator("--ttft-ms", "1", "--token-ms", "0", "--api-key", "sim-key")
    results: dict[str, float] = {}
    try:
        marker = simulator.rule(tokens=args.tokens)
        for mode in ("off", "memory", "redis"):
            with ExitStack() as stack:
                env = {"CHAT_RESUME": mode}
                redis_pid = None
                if mode == "redis":
                    if why := ensure_installed():
                        print(f"redis skipped: {why}", file=sys.stderr)
                        continue
                    env["CHAT_REDIS_URL"] = stack.enter_context(redis_server())
                    redis_pid = _pid_listening(env["CHAT_REDIS_URL"])
                host = start_host(host_env(simulator, **env, CHAT_MAX_CONCURRENT_STREAMS="1000"))
                stack.callback(stop, host.process)
                reply = _reply(host.url, marker)
                asyncio.run(stream_all(host.url, marker, reply, 20, args.concurrency))  # warm-up
                before = cpu_seconds(host.process.pid) + (cpu_seconds(redis_pid) if redis_pid else 0)
                asyncio.run(stream_all(host.url, marker, reply, args.streams, args.concurrency))
                after = cpu_seconds(host.process.pid) + (cpu_seconds(redis_pid) if redis_pid else 0)
                results[mode] = after - before
    finally:
        stop(simulator.process)
    deltas = args.streams * args.tokens
    print(f"{args.streams} streams x {args.tokens} deltas, {args.concurrency} at a time, {os.cpu_count()} CPUs")
    print(f"{'mode':8} {'CPU s':>8} {'ms/stream':>10} {'us/delta':>9} {'extra ms/stream':>16} {'extra us/delta':>15}")
    for mode, seconds in results.items():
        extra = seconds - results["off"]
        print(
            f"{mode:8} {seconds:8.2f} {seconds / args.streams * 1e3:10.2f} {seconds / deltas * 1e6:9.1f}"
            f" {extra / args.streams * 1e3:16.2f} {extra / deltas * 1e6:15.1f}"
        )


def _reply(url: str, marker: str) -> str:
    response = httpx.post(
        f"{url}/api/chat/stream", json={"messages": [{"role": "user", "content": marker}]}, timeout=60
    )
    return "".join(json.loads(line)["delta"].get("content", "") for line in response.text.split("\n") if line.strip())


def _pid_listening(url: str) -> int:
    port = url.rsplit(":", 1)[1].split("/")[0]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            title = b" ".join(cmdline)
            if title.startswith(b"redis-server") and f":{port}".encode() in title:
                return int(entry.name)
    raise RuntimeError("redis-server process not found")


if __name__ == "__main__":
    main()
