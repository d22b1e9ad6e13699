"""Where a worker's CPU goes per request: py-spy samples of a system under the request-CPU load.

One-delta streams back to back from 8 clients (as the `request_cpu` scenario), sampled with
py-spy (`pip install py-spy`) at 250 Hz, each sample charged to the package of its innermost
Python frame: the app (`chat/`, `function_app.py`), the upstream client (aiohttp, httpx2, openai),
the server stack the worker runs the app in (uvicorn, httptools or h11, Starlette, FastAPI, anyio), the event
loop itself (uvloop, asyncio), logging, the worker emulation (`benchmarks/worker_host.py`) and a
floor's own few lines (`benchmarks/floor.py`). Time in C code is charged to the Python frame that
called it (a socket write to the line that writes), so the split is by who asked for the work.
`python -m benchmarks` runs it for the function and both floors (section `profile`), so the
function's split stands beside what the same stack costs with no app in it.

    python -m benchmarks.profile [--system function] [--api responses] [--seconds 8]
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
from typing import Any

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
    ("floor's own code (benchmarks/floor.py)", re.compile(r"benchmarks/floor\.py")),
    ("event loop (uvloop, asyncio)", re.compile(r"\((asyncio/|uvloop)")),
)


def owner(frame: str) -> str:
    for name, pattern in OWNERS:
        if pattern.search(frame):
            return name
    return "other (stdlib, msgspec, ...)"


KINDS = ("function", run.H11, *run.FLOORS)


def profile(kind: str, api: str, seconds: float) -> dict[str, Any]:
    """Shares of the samples by owner, and CPU per request, for one system (`run.system`'s kinds)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise RuntimeError("py-spy is not installed: pip install -r requirements-dev.txt")
    sim = run.start_simulator(ttft_ms=0, token_ms=0, tokens=1)
    try:
        with run.system(kind, sim, api) as proc:
            assert proc is not None
            target = run.function_target(proc)
            run.run_loadgen({"mode": "load", "targets": [target], "slots": 4, "duration_s": 1, "ramp_s": 0}, "warm")
            with tempfile.NamedTemporaryFile(suffix=".txt") as out:
                args = [spy, "record", "-p", str(proc.pid), "-o", out.name, "-f", "raw", "-r", "250"]
                sampler = subprocess.Popen(
                    [*args, "-d", str(int(seconds) + 1), "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(0.5)
                cpu0 = run.cpu_seconds(proc.pid)
                spec = {"mode": "load", "targets": [target], "slots": 8, "duration_s": seconds, "ramp_s": 0}
                results = run.run_loadgen(spec, f"profile-{kind}")
                cpu = run.cpu_seconds(proc.pid) - cpu0
                if sampler.wait() != 0:
                    raise RuntimeError(f"py-spy record failed for {kind} (exit {sampler.returncode})")
                samples: collections.Counter[str] = collections.Counter()
                for line in Path(out.name).read_text().splitlines():
                    stack, _, count = line.rpartition(" ")
                    if count.isdigit():  # a line without a sample count (one stopped a full run) says nothing
                        samples[owner(stack.rsplit(";", 1)[-1])] += int(count)
    finally:
        sim.stop()
    total = sum(samples.values()) or 1
    completed = sum(1 for r in results if r["complete"])
    return {
        "kind": kind,
        "api": api if kind != run.PLATFORM else run.NO_UPSTREAM,
        "requests": completed,
        "samples": total,
        "cpu_ms_per_request": 1000 * cpu / max(1, completed),
        "shares": {k: v / total for k, v in samples.most_common()},
    }


def scenario_profile(seconds: float, kinds: tuple[str, ...] = ("function", *run.FLOORS)) -> dict[str, Any]:
    """The function and the floors profiled alike (Responses upstream), one after another."""
    out: dict[str, Any] = {"seconds": seconds, "api": "responses", "systems": {}}
    for kind in kinds:
        try:
            found = profile(kind, "responses", seconds)
        except RuntimeError as exc:  # no py-spy, or it could not attach: say so in the report
            out["error"] = str(exc)
            print(f"  profile: {exc}", flush=True)
            return out
        out["systems"][kind] = found
        print(f"  profile {kind}: " + describe(found).replace("\n", "\n  "), flush=True)
    return out


def describe(found: dict[str, Any]) -> str:
    cpu_ms = found["cpu_ms_per_request"]
    lines = [f"{found['requests']} requests, {cpu_ms:.2f} ms of CPU each; samples by owner of the innermost frame:"]
    for name, share in found["shares"].items():
        lines.append(f"  {100 * share:5.1f} %  {cpu_ms * share:5.2f} ms  {name}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", choices=KINDS, default="function", help="floors: benchmarks.floor")
    parser.add_argument("--api", choices=run.APIS, default="responses")
    parser.add_argument("--seconds", type=float, default=8)
    arguments = parser.parse_args()
    try:
        print(describe(profile(arguments.system, arguments.api, arguments.seconds)))
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
