"""The local Functions host: the pinned worker runtime behind an emulation of the .NET host.

    python -m dev.host                  # port 7071, or PORT
    python -m dev.host --web web        # also serve the static frontend at /
    python -m dev.host --app my_app     # another module than function_app

`azure-functions-runtime` (pinned in requirements.txt, what Azure runs on Python 3.13+) indexes,
loads and invokes the app and serves its HTTP; dev/functions_host emulates only what runs in
front of it in Azure. See dev/functions_host/__init__.py and the README's "Run locally".
"""

import socket

from dev.functions_host.cli import ROOT, main
from dev.functions_host.config import load_local_settings

__all__ = ["ROOT", "free_port", "load_local_settings", "main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
