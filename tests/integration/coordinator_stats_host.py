"""`python -m dev.host`, traced, plus SIGUSR1: one line saying what the runtime's coordinator holds.

For tests/integration/test_coordinator_leak.py. The line is
`coordinator-stats records=N traced=B`: the records in azure_functions_runtime's
`http_v2.http_coordinator`, and the bytes Python has allocated and not freed (tracemalloc),
both after a full `gc.collect()`, so garbage in cycles does not read as held memory.
"""

import gc
import os
import signal
import tracemalloc

from dev import host


def _report(*_: object) -> None:
    gc.collect()
    from azure_functions_runtime.http_v2 import http_coordinator

    records = len(http_coordinator._context_references)
    # os.write, not print: a handler that prints can interrupt a print in progress.
    os.write(1, f"coordinator-stats records={records} traced={tracemalloc.get_traced_memory()[0]}\n".encode())


if __name__ == "__main__":
    tracemalloc.start()
    signal.signal(signal.SIGUSR1, _report)
    host.main()
