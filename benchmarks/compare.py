"""CPU per request of this checkout against another one, interleaved: a lever's before and after.

Issue #14 asks for before/after figures for each lever. One run of `request_cpu` is one process
on a machine whose load drifts, so a change of a tenth of a millisecond hides in the noise
between two runs. Here both checkouts are served the same way (`benchmarks.worker_host`, each
from its own folder), read by the same simulator, and run in alternating order, `--rounds`
times each; the figure per run is CPU per request as `request_cpu` measures it (one-delta
streams back to back from 8 clients), and the medians are compared.

    git worktree add /tmp/before HEAD~1
    python -m benchmarks.compare /tmp/before [--api responses] [--rounds 6] [--seconds 5]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from benchmarks import run
from benchmarks.__main__ import ensure_dependencies
from benchmarks._common import ROOT
from dev.host import free_port


def cpu_per_request(root: Path, sim: run.Proc, api: str, seconds: float) -> float:
    """One fresh process of the app in `root`: its CPU per completed request, in ms."""
    env = run.function_env(sim, api)
    env["PYTHONPATH"] = str(root)
    args = ["-m", "benchmarks.worker_host", "--port", str(free_port())]
    proc = run.start(f"compare-{root.name}", args, env, cwd=root)
    try:
        return run.request_cpu(proc, 8, seconds, f"compare-{root.name}")["cpu_ms_per_request"]
    finally:
        proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=Path, help="another checkout of this repository (e.g. a git worktree)")
    parser.add_argument("--api", default="responses", choices=run.APIS)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    ensure_dependencies()  # the simulator and load generator run on uvloop and httptools, as in `make bench`
    roots = (args.other.resolve(), ROOT)
    figures: dict[Path, list[float]] = {root: [] for root in roots}
    sim = run.start_simulator(ttft_ms=0, token_ms=0, tokens=1)
    try:
        for n in range(args.rounds):
            for root in roots if n % 2 == 0 else roots[::-1]:
                figures[root].append(cpu_per_request(root, sim, args.api, args.seconds))
    finally:
        sim.stop()
    for root, values in figures.items():
        each = ", ".join(f"{v:.3f}" for v in values)
        print(f"{root}: median {statistics.median(values):.3f} ms CPU per request ({each})")
    before, after = (statistics.median(figures[root]) for root in roots)
    print(f"this checkout − the other: {after - before:+.3f} ms ({(after - before) / before:+.1%})")


if __name__ == "__main__":
    main()
