"""Where a worker's CPU goes per request: py-spy samples of the function under the request-CPU load.

One-delta streams back to back from 8 clients (as the `request_cpu` scenario), sampled with
py-spy (`pip install py-spy`) at 250 Hz, each sample charged to the package of its innermost
Python frame: the app (`chat/`, `function_app.py`), the upstream client (aiohttp, httpx2, openai),
the server stack the worker runs the app in (uvicorn, h11, Starlette, FastAPI, anyio), the event
loop itself (uvloop, asyncio), logging, and the worker emulation (`benchmarks/worker_host.py`).
Time in C code is charged to the Python frame that called it (a socket write to the line that
writes), so the split is by who asked for the work.

    python -m benchmarks.profile [--api responses] [--seconds 8] [--httptools]
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import run

# py-spy names a frame `function (path:line)`, with installed packages' paths relative to site-packages.
UPSTREAM = r"\((aiohttp|httpx2|httpcore2|openai|yarl|multidict|aiohappyeyeballs|azure)/"
SERVER = r"\((uvicorn|h11|httptools|starlette|fastapi|anyio|azurefunctions)/"
OWNERS = (
    ("app", re.compile(r"\((chat/|function_app\.py)")),
    ("upstream client (aiohttp, httpx2, openai)", re.compile(UPSTREAM)),
    ("server stack (uvicorn, h11/httptools, starlette, fastapi, anyio)", re.compile(SERVER)),
    ("logging", re.compile(r"logging/__init__\.py")),
    ("worker emulation (ContextEnabledTask, log queue thread)", re.compile(r"benchmarks/worker_host\.py")),
    ("event loop (uvloop, asyncio)", re.compile(r"\((asyncio/|uvloop)")),
)


def owner(frame: str) -> str:
    for name, pattern in OWNERS:
        if pattern.search(frame):
            return name
    return "other (stdlib, msgspec, ...)"


def profile(api: str, seconds: float, httptools: bool) -> tuple[dict[str, float], float, int]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    sim = run.start_simulator(ttft_ms=0, token_ms=0, tokens=1)
    try:
        function = run.start_function(sim, api, "function", httptools)
        try:
            target = run.function_target(function)
            run.run_loadgen({"mode": "load", "targets": [target], "slots": 4, "duration_s": 1, "ramp_s": 0}, "warm")
            with tempfile.NamedTemporaryFile(suffix=".txt") as out:
                args = [spy, "record", "-p", str(function.pid), "-o", out.name, "-f", "raw", "-r", "250"]
                sampler = subprocess.Popen(
                    [*args, "-d", str(int(seconds) + 1), "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(0.5)
                cpu0 = run.cpu_seconds(function.pid)
                spec = {"mode": "load", "targets": [target], "slots": 8, "duration_s": seconds, "ramp_s": 0}
                results = run.run_loadgen(spec, "profile")
                cpu = run.cpu_seconds(function.pid) - cpu0
                sampler.wait()
                samples = collections.Counter()
                for line in Path(out.name).read_text().splitlines():
                    stack, _, count = line.rpartition(" ")
                    samples[owner(stack.rsplit(";", 1)[-1])] += int(count)
        finally:
            function.stop()
    finally:
        sim.stop()
    total = sum(samples.values()) or 1
    completed = sum(1 for r in results if r["complete"])
    return {k: v / total for k, v in samples.most_common()}, 1000 * cpu / max(1, completed), completed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", choices=run.APIS, default="responses")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--httptools", action="store_true", help="with httptools importable (uvicorn's auto picks it)")
    arguments = parser.parse_args()
    shares, cpu_ms, completed = profile(arguments.api, arguments.seconds, arguments.httptools)
    print(f"{completed} requests, {cpu_ms:.2f} ms of CPU each; samples by owner of the innermost Python frame:")
    for name, share in shares.items():
        print(f"  {100 * share:5.1f} %  {cpu_ms * share:5.2f} ms  {name}")


if __name__ == "__main__":
    main()
