"""CPU per request (or per delta) of this checkout against another one, interleaved: a lever's before and after.

Issue #14 asks for before/after figures for each lever. One run of `request_cpu` is one process
on a machine whose load drifts, so a change of a tenth of a millisecond hides in the noise
between two runs. Here both checkouts are served the same way (`benchmarks.worker_host`, each
from its own folder), read by the same simulator, and run in alternating order, `--rounds`
times each; the figure per run is CPU per request as `request_cpu` measures it (one-delta
streams back to back from 8 clients), or with `--deltas N` CPU per 1,000 deltas as `deltas_cpu`
measures it (N streams of 300 deltas at 50 tokens/s), and the medians are compared. `--ttft N`
instead serves both checkouts at once and reads them, the bare relay and the simulator in turn,
one stream at a time, N rounds in a fresh order each (the `ttft` scenario's method): added time to
first token (up to about 800 rounds: the load generator stops after 3 minutes).
`--burst N` opens 500 streams at once against each checkout's fresh process, N times each,
alternating (the `burst` scenario's method): p50 time to first content over the pooled clients.

    git worktree add /tmp/before HEAD~1
    python -m benchmarks.compare /tmp/before [--api responses] [--rounds 6] [--seconds 5] [--deltas 300]
    python -m benchmarks.compare /tmp/before --ttft 300
    python -m benchmarks.compare /tmp/before --burst 4
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks import run
from benchmarks.__main__ import ensure_dependencies
from benchmarks._common import ROOT
from dev.host import free_port


def start(root: Path, sim: run.Proc, api: str) -> run.Proc:
    """The app in `root`, served as `make bench` serves the function, reading `sim`."""
    env = run.function_env(sim, api)
    env["PYTHONPATH"] = str(root)
    args = ["-m", "benchmarks.worker_host", "--port", str(free_port())]
    return run.start(f"compare-{root.name}", args, env, cwd=root)


def added_ttft(roots: tuple[Path, ...], api: str, rounds: int) -> dict[Path | str, float]:
    """p50 time to first token through each checkout and the bare relay, minus the simulator's own, interleaved.

    The bare relay (`benchmarks.floor`) is the least any relay on this stack must add: what a
    checkout adds beyond it is the app's share. Half the rounds run with the checkouts started in
    one order and half in the other: the process started second read up to 0.07 ms slower here,
    whichever checkout it served.
    """
    sim = run.start_simulator(ttft_ms=20, token_ms=10, tokens=6)
    ttft: dict[Path | str | None, list[float]] = {key: [] for key in (None, run.BARE, *roots)}  # None: the simulator
    try:
        bare = run.start_floor(run.BARE, sim, api)
        try:
            for order in (roots, roots[::-1]):
                procs = [start(root, sim, api) for root in order]
                try:
                    targets = [run.direct_target(sim, api), *(run.function_target(p) for p in (bare, *procs))]
                    run.run_loadgen({"mode": "ttft", "targets": targets, "rounds": 5}, "compare-ttft-warmup")
                    spec = {"mode": "ttft", "targets": targets, "rounds": rounds // 2}
                    results = run.run_loadgen(spec, "compare-ttft")
                finally:
                    for proc in procs:
                        proc.stop()
                for index, key in enumerate((None, run.BARE, *order)):
                    ttft[key] += [
                        (r["first_content"] - r["started"]) / 1e6
                        for r in results
                        if r["target"] == index and r["status"] == 200 and r["first_content"]
                    ]
        finally:
            bare.stop()
    finally:
        sim.stop()
    direct = statistics.median(ttft[None])
    return {key: statistics.median(ttft[key]) - direct for key in (run.BARE, *roots)}


def burst_ttfc(root: Path, sim: run.Proc, api: str, clients: int = 500) -> list[float]:
    """Time to first content of each of `clients` streams opened at once on a fresh process, in ms."""
    proc = start(root, sim, api)
    try:
        target = run.function_target(proc)
        run.run_loadgen({"mode": "load", "targets": [target], "slots": 4, "duration_s": 0.2}, "warm")
        time.sleep(0.5)
        spec = {"mode": "burst", "targets": [target], "slots": clients, "timeout_s": 120}
        results = run.run_loadgen(spec, f"compare-burst-{root.name}")
    finally:
        proc.stop()
    ok = [r for r in results if r["status"] == 200 and r["first_content"] and r["complete"]]
    return [(r["first_content"] - r["started"]) / 1e6 for r in ok]


def measure(root: Path, sim: run.Proc, api: str, seconds: float, streams: int) -> float:
    """One fresh process of the app in `root`: ms of CPU per request, or per 1,000 deltas when `streams`."""
    proc = start(root, sim, api)
    try:
        if streams:
            return run.deltas_cpu(proc, streams, seconds, f"compare-{root.name}")["cpu_ms_per_1000"]
        return run.request_cpu(proc, 8, seconds, f"compare-{root.name}")["cpu_ms_per_request"]
    finally:
        proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=Path, help="another checkout of this repository (e.g. a git worktree)")
    parser.add_argument("--api", default="responses", choices=run.APIS)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--deltas", type=int, default=0, metavar="STREAMS", help="CPU per 1,000 deltas at STREAMS")
    parser.add_argument("--ttft", type=int, default=0, metavar="ROUNDS", help="added TTFT p50 over ROUNDS rounds")
    parser.add_argument("--burst", type=int, default=0, metavar="N", help="burst of 500: TTFC p50 over N bursts each")
    args = parser.parse_args()
    ensure_dependencies()  # the simulator and load generator run on uvloop and httptools, as in `make bench`
    roots = (args.other.resolve(), ROOT)
    if args.ttft:
        added = added_ttft(roots, args.api, args.ttft)
        for key, value in added.items():
            print(f"{key}: added TTFT p50 {value:.3f} ms over {args.ttft} rounds")
        print(f"this checkout − the other: {added[ROOT] - added[roots[0]]:+.3f} ms")
        return
    if args.burst:
        sim = run.start_simulator(ttft_ms=0, token_ms=20, tokens=8)
        pooled: dict[Path, list[float]] = {root: [] for root in roots}
        try:
            for n in range(args.burst):
                for root in roots if n % 2 == 0 else roots[::-1]:
                    pooled[root] += burst_ttfc(root, sim, args.api)
        finally:
            sim.stop()
        p50 = {root: statistics.median(values) for root, values in pooled.items()}
        for root in roots:
            print(f"{root}: burst of 500, TTFC p50 {p50[root]:.0f} ms ({len(pooled[root])} clients)")
        print(f"this checkout − the other: {p50[ROOT] - p50[roots[0]]:+.0f} ms")
        return
    figures: dict[Path, list[float]] = {root: [] for root in roots}
    if args.deltas:
        sim = run.start_simulator(ttft_ms=100, token_ms=20, tokens=300)
        unit = f"ms CPU per 1,000 deltas at {args.deltas} streams"
    else:
        sim = run.start_simulator(ttft_ms=0, token_ms=0, tokens=1)
        unit = "ms CPU per request"
    try:
        for n in range(args.rounds):
            for root in roots if n % 2 == 0 else roots[::-1]:
                figures[root].append(measure(root, sim, args.api, args.seconds, args.deltas))
    finally:
        sim.stop()
    for root, values in figures.items():
        each = ", ".join(f"{v:.3f}" for v in values)
        print(f"{root}: median {statistics.median(values):.3f} {unit} ({each})")
    before, after = (statistics.median(figures[root]) for root in roots)
    print(f"this checkout − the other: {after - before:+.3f} ms ({(after - before) / before:+.1%})")


if __name__ == "__main__":
    main()
