"""`dev.host`, unchanged, plus two signals for the load test's memory readings.

Without traffic nothing allocates, so CPython's cyclic collector would never run and garbage
held in reference cycles would read as a leak: SIGUSR1 runs one full `gc.collect()` and writes
one line, `gc-stats objects=N blocks=N`, with the number of objects the collector tracks and
of memory blocks CPython has allocated (`sys.getallocatedblocks()`). Those counts fall back
when memory is freed; RSS mostly does not, because pymalloc and glibc keep freed pages for
reuse. SIGUSR2 asks glibc to hand those back (`malloc_trim(0)`), so the test can tell memory
still in use from memory merely kept. Nothing else changes.
"""

import ctypes
import gc
import os
import signal
import sys

from dev import host


def _collect(*_: object) -> None:
    gc.collect()
    # os.write, not print: a handler that prints can interrupt a print in progress.
    os.write(1, f"gc-stats objects={len(gc.get_objects())} blocks={sys.getallocatedblocks()}\n".encode())


def _trim(*_: object) -> None:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    os.write(1, b"malloc-trimmed\n")


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _collect)
    signal.signal(signal.SIGUSR2, _trim)
    host.main()
