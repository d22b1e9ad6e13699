"""Small helpers shared by the benchmark processes."""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
HELPERS = BENCH / ".deps" / "helpers"  # httptools + uvloop, only on the helpers' PYTHONPATH
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def use_uvloop() -> bool:
    """Make the next `asyncio.run` use uvloop when it is importable (helpers only, never the app)."""
    try:
        import uvloop
    except ImportError:
        return False
    import asyncio

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (10 ms resolution)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def busy_seconds() -> float:
    """CPU time spent by the whole machine (all cores, all processes), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def higher_priority() -> None:
    """Run a benchmark process ahead of whatever else shares the machine (works as root only)."""
    with contextlib.suppress(OSError):
        os.nice(-10)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
