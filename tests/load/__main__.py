"""`python -m tests.load` (`make load`): hundreds of concurrent streams, then an overload check.

Starts the Azure OpenAI simulator and the local Functions host on loopback, holds `--streams`
streams open for `--duration` seconds at realistic token rates, and checks that every stream
ended with the exact reply or an explicit error, that the host's memory came back, and that
a host capped by `CHAT_MAX_CONCURRENT_STREAMS` turns the excess away with 503 + Retry-After
while its streams in flight complete. The load runs once per `--resume` mode (CHAT_RESUME off,
memory, and redis on Debian's redis-server), and the table gives what resume costs per delta and
per stream against off. Prints a table, writes tests/load/results.json, and exits 1 when a check
failed. Every loop is bounded in time and count and all traffic stays on 127.0.0.1.

    python -m tests.load                          # 150 streams for 60 s, resume off, memory, redis
    python -m tests.load --streams 1000 --duration 120 --resume off
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import resource
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tests.harness import start_simulator, stop
from tests.integration.redis_server import ensure_installed, redis_server
from tests.load.run import LoadConfig, run_load, run_overload

RESULTS = Path(__file__).resolve().parent / "results.json"


def parse_args() -> argparse.Namespace:
    defaults = LoadConfig()
    parser = argparse.ArgumentParser(
        prog="python -m tests.load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=defaults.streams, help="concurrent streams to hold")
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds of load")
    parser.add_argument("--tokens", type=int, default=defaults.tokens, help="mean reply length in tokens")
    parser.add_argument("--token-ms", type=float, default=defaults.token_ms, help="upstream ms between tokens")
    parser.add_argument("--ttft-ms", type=float, default=defaults.ttft_ms, help="upstream time to first token")
    parser.add_argument("--ramp", type=float, default=defaults.ramp, help="seconds over which streams open")
    parser.add_argument("--warmup", type=float, default=defaults.warmup, help="seconds of warm-up load")
    parser.add_argument("--settle", type=float, default=defaults.settle, help="quiet seconds before memory reads")
    parser.add_argument("--max-requests", type=int, default=defaults.max_requests, help="hard cap on requests")
    parser.add_argument("--overload-cap", type=int, default=20, help="CHAT_MAX_CONCURRENT_STREAMS of the overload host")
    parser.add_argument("--overload-excess", type=int, default=40, help="streams opened beyond the cap")
    parser.add_argument(
        "--resume", default="off,memory,redis", help="comma-separated CHAT_RESUME modes to load, off first"
    )
    parser.add_argument("--skip-overload", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args()
    args.resume = args.resume.split(",")
    if not set(args.resume) <= {"off", "memory", "redis"} or len(set(args.resume)) != len(args.resume):
        parser.error("--resume takes distinct modes among off, memory, redis")
    if args.streams < 1 or args.duration <= 0 or args.duration > 3600:
        parser.error("--streams must be >= 1 and --duration within (0, 3600]")
    return args


def raise_file_limit(streams: int) -> None:
    """Each stream holds three sockets (client, host in, host out); children inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * streams + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < 3 * streams + 64:
        sys.exit(f"the open-file limit ({hard}) is too low for {streams} streams")


def load_rows(load: dict[str, Any]) -> list[tuple[str, Any]]:
    mem = load["memory"]
    diff, tol = mem["after_minus_warm"], mem["tolerance"]
    ttft = load["ttft_ms"]
    return [
        ("load: streams held (peak open)", f"{load['peak_open_streams']} of {load['streams']}"),
        ("load: duration", f"{load['duration_s']} s"),
        ("load: requests", load["requests"]),
        ("load: complete, exact text", load["complete_exact_text"]),
        ("load: explicit error lines", load["explicit_error_lines"] or 0),
        ("load: explicit HTTP errors", load["explicit_http_errors"] or 0),
        ("load: LOST (wrong/cut/hung)", load["lost"]),
        ("load: streams without resume", load["streams_without_resume"]),
        ("load: cross-checked with upstream", load["upstream_cross_check"]["streams_cross_checked"]),
        ("load: TTFT p50 / p90 / p99 / max", f"{ttft['p50']} / {ttft['p90']} / {ttft['p99']} / {ttft['max']} ms"),
        ("load: upstream TTFT (configured)", f"{ttft['configured_upstream']} ms"),
        ("load: host CPU", f"{load['host_cpu_percent']} %"),
        ("load: delivered", f"{load['delivered_deltas_per_s']} deltas/s, {load['delivered_chars_per_s']} chars/s"),
        (
            "load: host CPU per delta / stream",
            f"{load['host_cpu_us_per_delta']} µs / {load['host_cpu_ms_per_stream']} ms",
        ),
        (
            "load: store CPU per delta / stream",
            f"{load['store_cpu_us_per_delta']} µs / {load['store_cpu_ms_per_stream']} ms",
        ),
        ("load: machine load avg before/after", load["machine_load_average_1min"]),
        ("load: stream seconds nominal / p50 / p99", _streams_seconds(load["stream_seconds"])),
        (
            "load: load generator CPU / loop lag p99",
            f"{load['load_generator_cpu_percent']} % / {load['load_generator_loop_lag_ms']['p99']} ms",
        ),
        ("memory: RSS cold / warm baseline", f"{mem['cold']['rss_mib']} / {mem['warm_baseline']['rss_mib']} MiB"),
        ("memory: RSS peak / held median", f"{mem['peak_rss_mib']} / {mem['held_median_rss_mib']} MiB"),
        (
            "memory: per open stream (marginal / from cold)",
            f"{mem['per_open_stream_kib']} / {mem['per_open_stream_from_cold_kib']} KiB",
        ),
        ("memory: RSS after settle + GC", f"{mem['after']['rss_mib']} MiB"),
        (
            "memory: after - warm, RSS trimmed",
            f"{diff['rss_after_malloc_trim_mib']} MiB (tolerance {tol['rss_after_malloc_trim_mib']} MiB)",
        ),
        ("memory: after - warm, gc objects", f"{diff['gc_objects']} (tolerance {tol['gc_objects']})"),
        ("memory: after - warm, allocated blocks", f"{diff['allocated_blocks']} (tolerance {tol['allocated_blocks']})"),
        ("load: PASSED", load["passed"]),
    ]


def resume_cost(loads: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """What each resume mode adds to off, per delta and per stream (host CPU plus the store's)."""
    off = loads.get("off")
    if off is None:
        return {}

    def per(load: dict[str, Any], unit: str) -> float:
        return load[f"host_cpu_{unit}"] + load[f"store_cpu_{unit}"]

    return {
        mode: {
            "extra_us_per_delta": round(per(load, "us_per_delta") - per(off, "us_per_delta"), 1),
            "extra_ms_per_stream": round(per(load, "ms_per_stream") - per(off, "ms_per_stream"), 2),
        }
        for mode, load in loads.items()
        if mode != "off"
    }


def print_table(results: dict[str, Any]) -> None:
    loads: dict[str, dict[str, Any]] = results.get("load", {})
    columns = [(f"resume {mode}", load_rows(load)) for mode, load in loads.items()]
    rows: list[tuple[str, list[Any]]] = [(name, [value]) for name, value in columns[0][1]] if columns else []
    for _, more in columns[1:]:
        for row, (_, value) in zip(rows, more, strict=True):
            row[1].append(value)
    for mode, cost in results.get("resume_cost", {}).items():
        rows.append(
            (
                f"resume {mode}: extra CPU per delta / stream",
                [f"{cost['extra_us_per_delta']} µs / {cost['extra_ms_per_stream']} ms"],
            )
        )
    over = results.get("overload")
    if over:
        rows += [
            ("overload: cap / excess", [f"{over['cap']} / {over['excess']}"]),
            ("overload: excess statuses", [over["excess_statuses"]]),
            ("overload: Retry-After", [over["retry_after_values"]]),
            ("overload: reject time p50 / max", [f"{over['reject_ms_p50']} / {over['reject_ms_max']} ms"]),
            ("overload: in-flight streams", [over["in_flight_verdicts"]]),
            ("overload: stream after overload", [over["after_overload"]]),
            ("overload: PASSED", [over["passed"]]),
        ]
    width = max(len(name) for name, _ in rows)
    if columns:
        print(f"{'':<{width}}  " + " | ".join(name for name, _ in columns))
    for name, values in rows:
        print(f"{name:<{width}}  " + " | ".join(str(value) for value in values))


def _streams_seconds(seconds: dict[str, Any]) -> str:
    return f"{seconds['nominal_mean']} / {seconds['p50']} / {seconds['p99']} s"


async def main() -> int:
    args = parse_args()
    raise_file_limit(args.streams)
    config = LoadConfig(
        streams=args.streams,
        duration=args.duration,
        tokens=args.tokens,
        token_ms=args.token_ms,
        ttft_ms=args.ttft_ms,
        ramp=args.ramp,
        warmup=args.warmup,
        settle=args.settle,
        max_requests=args.max_requests,
    )
    run_id = uuid.uuid4().hex[:8]
    results: dict[str, Any] = {
        "command": "python -m tests.load " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "config": config.__dict__,
    }
    sim = start_simulator("--ttft-ms", str(args.ttft_ms), "--token-ms", str(args.token_ms))
    try:
        if not args.skip_overload:
            print(f"overload: cap {args.overload_cap}, {args.overload_excess} extra streams …", flush=True)
            results["overload"] = await run_overload(sim, args.overload_cap, args.overload_excess, run_id)
            async with httpx.AsyncClient() as client:
                (await client.post(f"{sim.url}/_sim/reset")).raise_for_status()
        if not args.skip_load:
            results["load"] = {}
            for mode in args.resume:
                print(f"load, resume {mode}: {args.streams} streams, {args.duration:g} s after warm-up …", flush=True)
                with ExitStack() as stack:
                    redis_url = ""
                    if mode == "redis":
                        if why := ensure_installed():
                            sys.exit(f"resume redis needs redis-server: {why}")
                        redis_url = stack.enter_context(redis_server())
                    mode_config = dataclasses.replace(config, resume=mode)
                    results["load"][mode] = await run_load(sim, mode_config, run_id, redis_url)
                async with httpx.AsyncClient() as client:
                    (await client.post(f"{sim.url}/_sim/reset")).raise_for_status()
            results["resume_cost"] = resume_cost(results["load"])
    finally:
        stop(sim.process)
    passed = [load["passed"] for load in results.get("load", {}).values()]
    if "overload" in results:
        passed.append(results["overload"]["passed"])
    results["passed"] = all(passed)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(results)
    print(f"results: {args.json}")
    return 0 if results["passed"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
