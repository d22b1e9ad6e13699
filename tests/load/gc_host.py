"""`dev.host`, unchanged, plus a garbage-collection opportunity on SIGUSR1.

The load test measures the host's memory after the load has gone. Without traffic nothing
allocates, so CPython's cyclic collector would never run, and garbage held in reference
cycles would read as a leak. SIGUSR1 runs one full `gc.collect()` in the host's main thread.
Nothing else changes: no allocator trimming, so what the allocator keeps still counts.
"""

import gc
import signal

from dev import host

if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, lambda *_: gc.collect())
    host.main()
