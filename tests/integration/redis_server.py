"""A throwaway Debian `redis-server` on a free loopback port, for the resume tests (no disk, no auth)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dev.host import free_port

SETUP = Path(__file__).with_name("setup_redis.sh")


def ensure_installed() -> str | None:
    """None when redis-server is there (installing it if need be), else why it cannot be."""
    if shutil.which("redis-server"):
        return None
    result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=600)
    if result.returncode != 0 or not shutil.which("redis-server"):
        return (result.stderr or result.stdout).strip() or "redis-server could not be installed"
    return None


@contextmanager
def redis_server() -> Iterator[str]:
    """Start redis-server; yield its redis:// URL; stop it."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
