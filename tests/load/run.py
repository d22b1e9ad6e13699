"""The load test's two checks: hundreds of streams held for a fixed time, and overload.

Each stream's user message holds a marker naming one of a few canned replies (simulator rules)
and a unique request id. A stream passes when it ends with exactly that reply and a final line
with `finish_reason`, or with an explicit `{"error": ...}` line after a prefix of it, or with a
non-2xx status and an error body. Anything else (wrong text, no final line, a cut or hung
connection) is a *lost* stream, and one lost stream fails the run. At the end the simulator's
records are matched to the streams by request id: every completed stream must have exactly one
upstream request that finished and sent the same reply, and no upstream request may be orphaned.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from dev.simulator import tokenize
from tests.harness import ROOT, Host, Simulator, _start, free_port, host_env, stop
from tests.load.client import Connection, Response

STREAM_PATH = "/api/chat/stream"
MIB = 1024 * 1024

# Text that exercises the JSON encoder and the framing: multi-byte UTF-8, emoji, quotes,
# backslashes and newlines inside deltas.
_WORDS = "stream token delta answer model reply the a of to and in is that function browser relay"
_UNICODE = "Café naïve façade 日本語 テキスト 🚀 ✨ — … 1,234.5"
VOCABULARY = [*_WORDS.split(), *_UNICODE.split(), '"quoted"', "back\\slash", "new\nline", "tab\tstop"]


@dataclass
class Reply:
    marker: str
    text: str
    token_ms: float


@dataclass
class LoadConfig:
    streams: int = 150  # what one local host process relays at 40 tokens/s within a core (docs/resilience.md)
    duration: float = 60.0
    ramp: float = 5.0
    tokens: int = 120
    token_ms: float = 25.0
    ttft_ms: float = 300.0
    sse_share: float = 0.1
    stream_timeout: float = 90.0
    max_requests: int = 100_000
    settle: float = 10.0
    warmup: float = 10.0
    resume: str = "off"  # CHAT_RESUME of the host under load: off, memory or redis


@dataclass
class Tally:
    """What every stream ended as, and its timings."""

    started: int = 0
    complete: int = 0
    error_lines: Counter[str] = field(default_factory=Counter)
    http_errors: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    content_chars: int = 0
    content_lines: int = 0
    expected: dict[str, str] = field(default_factory=dict)  # request id -> reply text, for completed streams
    active: int = 0
    peak_active: int = 0


def make_replies(run_id: str, tokens: int, token_ms: float, count: int = 8) -> list[Reply]:
    """`count` canned replies of 0.5x to 1.5x `tokens` simulator tokens (mean `tokens`)."""
    rng = random.Random(run_id)
    replies = []
    for index in range(count):
        target = max(1, round(tokens * (0.5 + index / max(1, count - 1))))
        words: list[str] = []
        while len(tokenize(" ".join(words))) < target:
            words.append(rng.choice(VOCABULARY))
        replies.append(Reply(f"[reply-{index}-{run_id}]", " ".join(words), token_ms * rng.uniform(0.8, 1.2)))
    return replies


def add_rules(sim: Simulator, replies: list[Reply]) -> None:
    for reply in replies:
        sim.rule(match=reply.marker, reply=reply.text, token_ms=reply.token_ms)


def content_lines(body: bytes) -> int:
    return body.count(b'"assistant","content":')


def judge(response: Response, expected: str, sse: bool) -> tuple[str, str]:
    """('complete' | 'error_line' | 'http_error' | 'lost', detail) for one finished stream."""
    if response.transport_error is not None:
        return "lost", f"transport: {response.transport_error}"
    body = bytes(response.body)
    if response.status != 200:
        try:
            error = json.loads(body)["error"]
            return "http_error", f"{response.status} {error['code']}"
        except (ValueError, KeyError, TypeError):
            return "lost", f"status {response.status} without an error body: {body[:200]!r}"
    try:
        text = body.decode("utf-8")
        if sse:
            # An event's `data:` line, after its `id:` line when the stream is resumable.
            data = (line for block in text.split("\n\n") for line in block.split("\n") if line.startswith("data: "))
            events = [json.loads(line[len("data: ") :]) for line in data]
            complete_framing = text.endswith("\n\n")
        else:
            events = [json.loads(line) for line in text.split("\n") if line.strip()]
            complete_framing = text.endswith("\n")
    except ValueError as exc:
        return "lost", f"undecodable body ({exc}): {body[-200:]!r}"
    if not complete_framing or not events:
        return "lost", f"last line unterminated or no lines: {body[-200:]!r}"
    content = "".join(e.get("delta", {}).get("content", "") for e in events[:-1])
    last = events[-1]
    if "error" in last:
        if not expected.startswith(content):
            return "lost", f"text before the error line is not a prefix of the reply: {content[:80]!r}"
        return "error_line", str(last["error"].get("code"))
    if last.get("context", {}).get("finish_reason") != "stop":
        return "lost", f"no final line with finish_reason: {last}"
    if content != expected:
        return "lost", f"text differs from the reply: got {len(content)} chars, expected {len(expected)}"
    return "complete", ""


async def user_loop(
    conn: Connection,
    replies: list[Reply],
    tally: Tally,
    config: LoadConfig,
    deadline: float,
    rng: random.Random,
) -> None:
    while time.monotonic() < deadline and tally.started < config.max_requests:
        tally.started += 1
        reply = replies[rng.randrange(len(replies))]
        request_id = f"[req-{uuid.uuid4().hex}]"
        sse = rng.random() < config.sse_share
        body = json.dumps({"messages": [{"role": "user", "content": f"{reply.marker} {request_id} Tell me."}]})
        headers = {"Accept": "text/event-stream"} if sse else {}
        tally.active += 1
        tally.peak_active = max(tally.peak_active, tally.active)
        try:
            response = await asyncio.wait_for(conn.post(STREAM_PATH, body.encode(), headers), config.stream_timeout)
        except TimeoutError:
            conn.close()
            tally.lost.append(f"{request_id}: no end within {config.stream_timeout}s (hang)")
            continue
        finally:
            tally.active -= 1
        verdict, detail = judge(response, reply.text, sse)
        if verdict == "complete":
            tally.complete += 1
            tally.expected[request_id] = reply.text
            tally.content_chars += len(reply.text)
            tally.content_lines += content_lines(response.body)
            if response.ttft is not None:
                tally.ttft.append(response.ttft)
            tally.durations.append(response.ended_at - response.sent_at)  # type: ignore[operator]
        elif verdict == "error_line":
            tally.error_lines[detail] += 1
        elif verdict == "http_error":
            tally.http_errors[detail] += 1
        else:
            tally.lost.append(f"{request_id}: {detail}")


async def hold_streams(
    host_url: str, replies: list[Reply], config: LoadConfig, seconds: float, seed: int, tally: Tally
) -> Tally:
    """`config.streams` users, each streaming one answer after another until `seconds` have passed."""
    parts = urlsplit(host_url)
    deadline = time.monotonic() + seconds
    conns = [Connection(parts.hostname or "127.0.0.1", parts.port or 80) for _ in range(config.streams)]

    async def user(index: int) -> None:
        await asyncio.sleep(config.ramp * index / config.streams)
        await user_loop(conns[index], replies, tally, config, deadline, random.Random(seed * 100_003 + index))

    try:
        await asyncio.gather(*(user(i) for i in range(config.streams)))
    finally:
        for conn in conns:
            conn.close()
    return tally


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class MemoryReading:
    """The host at rest: after `settle` quiet seconds and a full collection (see gc_host.py)."""

    rss: int
    rss_trimmed: int
    objects: int
    blocks: int

    def summary(self) -> dict[str, Any]:
        return {
            "rss_mib": round(self.rss / MIB, 1),
            "rss_after_malloc_trim_mib": round(self.rss_trimmed / MIB, 1),
            "gc_objects": self.objects,
            "allocated_blocks": self.blocks,
        }


async def _signal_and_wait(host: Host, signum: int, reply: str) -> str:
    before = host.log.count(reply)
    os.kill(host.process.pid, signum)
    for _ in range(200):
        await asyncio.sleep(0.05)
        log = host.log
        if log.count(reply) > before:
            return log[log.rindex(reply) :].split("\n", 1)[0]
    raise RuntimeError(f"the host did not answer signal {signum}")


async def settled_memory(host: Host, settle: float, *, sweep: bool = True) -> MemoryReading:
    await asyncio.sleep(settle)
    if sweep:
        await _probe(host)
    stats = dict(part.split("=") for part in (await _signal_and_wait(host, signal.SIGUSR1, "gc-stats")).split()[1:])
    rss = rss_bytes(host.process.pid)
    await _signal_and_wait(host, signal.SIGUSR2, "malloc-trimmed")
    return MemoryReading(rss, rss_bytes(host.process.pid), int(stats["objects"]), int(stats["blocks"]))


async def _probe(host: Host) -> None:
    # With the in-process resume store, a new stream sweeps the logs whose TTL is over: one short
    # stream (its own log is a few hundred bytes) empties it of the load's answers, as traffic would.
    async with httpx.AsyncClient(timeout=30) as client:
        body = {"messages": [{"role": "user", "content": "[probe] Tell me."}]}
        (await client.post(f"{host.url}{STREAM_PATH}", json=body)).raise_for_status()


async def watch_loop_lag(done: asyncio.Event, lags: list[float], period: float = 0.05) -> None:
    """How late this process's own event loop wakes up: a busy load generator would skew TTFT."""
    while not done.is_set():
        before = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(time.perf_counter() - before - period)


def start_gc_host(env: dict[str, str]) -> Host:
    port = free_port()
    settings = str(ROOT / "tests" / "local.settings.test.json")
    process, url = _start(["-m", "tests.load.gc_host", "--port", str(port), "--settings", settings], env)
    return Host(url, process, env)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def cross_check(sim: Simulator, tally: Tally) -> dict[str, Any]:
    """Match the simulator's records to the client's streams by request id."""
    records = sim.records()
    by_id: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        turns = record["body"].get("messages") or record["body"].get("input") or [{}]  # Chat Completions or Responses
        content = str(turns[-1].get("content", ""))
        start = content.find("[req-")
        if start >= 0:
            by_id.setdefault(content[start : content.index("]", start) + 1], []).append(record)
    problems = []
    checked = 0
    for request_id, expected in tally.expected.items():
        found = by_id.get(request_id)
        if found is None:
            continue  # older than the simulator's record window
        checked += 1
        if len(found) != 1:
            problems.append(f"{request_id}: {len(found)} upstream requests")
        elif found[0]["reply"] != expected or not found[0]["finished"] or found[0]["closed_early"]:
            problems.append(f"{request_id}: upstream record disagrees: {found[0]['reply'][:40]!r}")
        elif found[0]["tokens_sent"] != found[0]["tokens_total"]:
            problems.append(f"{request_id}: upstream sent {found[0]['tokens_sent']}/{found[0]['tokens_total']}")
    unfinished = [r for r in records if "[req-" in json.dumps(r["body"]) and not r["finished"] and not r["fault"]]
    return {
        "records": len(records),
        "streams_cross_checked": checked,
        "upstream_unfinished": len(unfinished),
        "problems": problems[:20],
    }


def redis_pid(url: str) -> int:
    """The redis-server process listening on `url`'s port, whose CPU the resume cost includes."""
    port = urlsplit(url).port
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ") if entry.name.isdigit() else b""
        except OSError:
            continue
        if title.startswith(b"redis-server") and f":{port}".encode() in title:
            return int(entry.name)
    raise RuntimeError(f"no redis-server process listens on port {port}")


async def run_load(sim: Simulator, config: LoadConfig, run_id: str, redis_url: str = "") -> dict[str, Any]:
    """Hold the streams through one host; with `config.resume` on, every stream is resumable (chat/resume)."""
    replies = make_replies(run_id, config.tokens, config.token_ms)
    add_rules(sim, replies)
    env = host_env(
        sim,
        CHAT_MAX_CONCURRENT_STREAMS=str(max(1000, config.streams * 2)),
        CHAT_HEARTBEAT_SECONDS="5",
        CHAT_RESUME=config.resume,
        # Shorter than `settle`, so the memory readings find the load's logs expired.
        CHAT_RESUME_TTL_SECONDS=str(max(1, int(config.settle // 2))),
        CHAT_REDIS_URL=redis_url,
    )
    host = start_gc_host(env)
    pid = host.process.pid
    store_pid = redis_pid(redis_url) if config.resume == "redis" else None
    try:
        cold = await settled_memory(host, 2.0, sweep=False)

        # Warm-up at full concurrency: imports, the upstream client and its pool, and the
        # allocator's arenas reach their working size; the baseline is read after it.
        warm_config = LoadConfig(**{**config.__dict__, "ramp": min(config.ramp, 2.0)})
        warm_tally = await hold_streams(host.url, replies, warm_config, config.warmup, 1, Tally())
        warm = await settled_memory(host, config.settle)

        samples: list[tuple[float, int, int]] = []
        lags: list[float] = []
        tally = Tally()
        done = asyncio.Event()

        async def sample(started: float) -> None:
            while not done.is_set():
                samples.append((time.monotonic() - started, tally.active, rss_bytes(pid)))
                await asyncio.sleep(0.25)

        load_before = round(os.getloadavg()[0], 2)
        started = time.monotonic()
        host_cpu_before, client_cpu_before = cpu_seconds(pid), _own_cpu()
        store_cpu_before = cpu_seconds(store_pid) if store_pid else 0.0
        watchers = [asyncio.create_task(sample(started)), asyncio.create_task(watch_loop_lag(done, lags))]
        await hold_streams(host.url, replies, config, config.duration, 2, tally)
        elapsed = time.monotonic() - started
        host_cpu = cpu_seconds(pid) - host_cpu_before
        store_cpu = cpu_seconds(store_pid) - store_cpu_before if store_pid else 0.0
        client_cpu = _own_cpu() - client_cpu_before
        done.set()
        await asyncio.gather(*watchers)
        after = await settled_memory(host, config.settle)
        check = cross_check(sim, tally)
        tracebacks = host.log.count("Traceback (most recent call last)")
        resume_unavailable = host.log.count("resume unavailable for request")
    finally:
        stop(host.process)

    peak_rss = max(s[2] for s in samples)
    held = [s for s in samples if s[1] >= 0.95 * config.streams]
    held_rss = statistics.median(s[2] for s in held) if held else peak_rss
    # RSS does not fall back by itself: pymalloc and glibc keep freed memory for reuse (compare
    # `rss` with `rss_after_malloc_trim`). What must come back is what is in use: the objects and
    # blocks CPython holds, within 2% (pools, caches, the upstream client's keep-alive connections
    # differ from moment to moment), and the trimmed RSS, within 10% of what the load added
    # (at least 8 MiB: arenas pinned by one live object each cannot be returned).
    growth = peak_rss - warm.rss_trimmed
    rss_tolerance = max(8 * MIB, int(0.10 * max(0, growth)))
    blocks_tolerance = max(5000, int(0.02 * warm.blocks))
    objects_tolerance = max(2000, int(0.02 * warm.objects))
    returned = (
        after.rss_trimmed - warm.rss_trimmed <= rss_tolerance
        and after.blocks - warm.blocks <= blocks_tolerance
        and after.objects - warm.objects <= objects_tolerance
    )
    ttft_ms = [t * 1000 for t in tally.ttft]
    memory = {
        "cold": cold.summary(),
        "warm_baseline": warm.summary(),
        "peak_rss_mib": round(peak_rss / MIB, 1),
        "held_median_rss_mib": round(held_rss / MIB, 1),
        "after": after.summary(),
        # Marginal: what holding the streams adds to a warm, idle host. From cold: everything the
        # first burst of streams cost, one-time pools and allocator high water included.
        "per_open_stream_kib": round((held_rss - warm.rss_trimmed) / max(1, tally.peak_active) / 1024, 1),
        "per_open_stream_from_cold_kib": round((held_rss - cold.rss) / max(1, tally.peak_active) / 1024, 1),
        "after_minus_warm": {
            "rss_mib": round((after.rss - warm.rss) / MIB, 2),
            "rss_after_malloc_trim_mib": round((after.rss_trimmed - warm.rss_trimmed) / MIB, 2),
            "gc_objects": after.objects - warm.objects,
            "allocated_blocks": after.blocks - warm.blocks,
        },
        "tolerance": {
            "rss_after_malloc_trim_mib": round(rss_tolerance / MIB, 1),
            "gc_objects": objects_tolerance,
            "allocated_blocks": blocks_tolerance,
        },
        "returned_to_baseline": returned,
    }
    lags_ms = [lag * 1000 for lag in lags]
    result = {
        "resume": config.resume,
        "streams": config.streams,
        "duration_s": round(elapsed, 1),
        "peak_open_streams": tally.peak_active,
        "requests": tally.started,
        "complete_exact_text": tally.complete,
        "explicit_error_lines": dict(tally.error_lines),
        "explicit_http_errors": dict(tally.http_errors),
        "lost": len(tally.lost),
        "lost_examples": tally.lost[:10],
        "warmup_requests": warm_tally.started,
        "warmup_lost": len(warm_tally.lost),
        "ttft_ms": {
            "configured_upstream": config.ttft_ms,
            "p50": _round(percentile(ttft_ms, 50)),
            "p90": _round(percentile(ttft_ms, 90)),
            "p99": _round(percentile(ttft_ms, 99)),
            "max": _round(max(ttft_ms) if ttft_ms else None),
        },
        "stream_seconds": {
            "nominal_mean": round((config.ttft_ms + config.tokens * config.token_ms) / 1000, 2),
            "p50": _round(percentile(tally.durations, 50), 2),
            "p99": _round(percentile(tally.durations, 99), 2),
        },
        "delivered_chars_per_s": round(tally.content_chars / elapsed),
        "delivered_deltas_per_s": round(tally.content_lines / elapsed),
        "host_cpu_us_per_delta": round(host_cpu * 1e6 / max(1, tally.content_lines), 1),
        "host_cpu_ms_per_stream": round(host_cpu * 1e3 / max(1, tally.complete), 2),
        # The store's own CPU (redis-server), counted with the host's in what resume costs.
        "store_cpu_us_per_delta": round(store_cpu * 1e6 / max(1, tally.content_lines), 1),
        "store_cpu_ms_per_stream": round(store_cpu * 1e3 / max(1, tally.complete), 2),
        "streams_without_resume": resume_unavailable,
        "machine_load_average_1min": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
        "host_cpu_percent": round(100 * host_cpu / elapsed, 1),
        "load_generator_cpu_percent": round(100 * client_cpu / elapsed, 1),
        "load_generator_loop_lag_ms": {"p50": _round(percentile(lags_ms, 50)), "p99": _round(percentile(lags_ms, 99))},
        "host_tracebacks": tracebacks,
        "upstream_cross_check": check,
        "memory": memory,
    }
    result["passed"] = (
        not tally.lost
        and not warm_tally.lost
        and tally.complete > 0
        and not check["problems"]
        and check["upstream_unfinished"] == 0
        and tracebacks == 0
        and returned
        and resume_unavailable == 0
    )
    return result


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


async def run_overload(sim: Simulator, cap: int, excess: int, run_id: str) -> dict[str, Any]:
    """A host capped at `cap` streams: `cap` in flight, then `excess` more at once."""
    reply = Reply(f"[overload-{run_id}]", " ".join(["steady"] * 60) + " end", 40.0)
    sim.rule(match=reply.marker, reply=reply.text, token_ms=reply.token_ms)
    env = host_env(sim, CHAT_MAX_CONCURRENT_STREAMS=str(cap))
    host = start_gc_host(env)
    parts = urlsplit(host.url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)

    def body() -> bytes:
        return json.dumps(
            {"messages": [{"role": "user", "content": f"{reply.marker} [req-{uuid.uuid4().hex}]"}]}
        ).encode()

    try:
        started = [asyncio.Event() for _ in range(cap)]
        in_flight_conns = [Connection(*address) for _ in range(cap)]
        in_flight = [
            asyncio.create_task(conn.post(STREAM_PATH, body(), started=event))
            for conn, event in zip(in_flight_conns, started, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 30)
        excess_conns = [Connection(*address) for _ in range(excess)]
        rejected = await asyncio.wait_for(
            asyncio.gather(*(conn.post(STREAM_PATH, body()) for conn in excess_conns)), 30
        )
        any_in_flight_done_early = any(task.done() for task in in_flight)
        finished = await asyncio.wait_for(asyncio.gather(*in_flight), 60)
        after_conn = Connection(*address)
        after = await asyncio.wait_for(after_conn.post(STREAM_PATH, body()), 30)
        for conn in [*in_flight_conns, *excess_conns, after_conn]:
            conn.close()
        tracebacks = host.log.count("Traceback (most recent call last)")
    finally:
        stop(host.process)

    reject_ms = [(r.ended_at - r.sent_at) * 1000 for r in rejected]  # type: ignore[operator]
    statuses = Counter(r.status for r in rejected)
    retry_after = Counter(r.headers.get("retry-after") for r in rejected if r.status == 503)
    verdicts = Counter(judge(r, reply.text, sse=False)[0] for r in finished)
    after_verdict = judge(after, reply.text, sse=False)[0]
    in_flight_seconds = [r.ended_at - r.sent_at for r in finished]  # type: ignore[operator]
    result = {
        "cap": cap,
        "excess": excess,
        "excess_statuses": {str(k): v for k, v in statuses.items()},
        "retry_after_values": {str(k): v for k, v in retry_after.items()},
        "reject_ms_max": round(max(reject_ms), 1),
        "reject_ms_p50": round(statistics.median(reject_ms), 1),
        "in_flight_verdicts": dict(verdicts),
        "in_flight_seconds_min": round(min(in_flight_seconds), 2),
        "in_flight_still_open_when_rejections_done": not any_in_flight_done_early,
        "after_overload": after_verdict,
        "host_tracebacks": tracebacks,
    }
    result["passed"] = (
        statuses == Counter({503: excess})
        and all(v is not None and v.isdigit() for v in retry_after)
        and max(reject_ms) < 1000
        and verdicts == Counter({"complete": cap})
        and not any_in_flight_done_early
        and after_verdict == "complete"
        and tracebacks == 0
    )
    return result
