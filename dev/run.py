"""`make run`: serve the app and the web chat locally, with the simulator when no model is configured.

With `AZURE_OPENAI_ENDPOINT` set (environment or local.settings.json), or `OPENAI_HOST=local`,
the app talks to that model. Otherwise an Azure OpenAI simulator starts on a free loopback
port and the output says so plainly: the answers are then canned text, not a model's.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from dev.host import ROOT, load_local_settings


def main() -> None:
    # A terminated `make run` must not leave the simulator behind: SIGTERM unwinds like Ctrl+C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    load_local_settings(ROOT / "local.settings.json")
    port = os.environ.get("PORT", "7071")
    simulator: subprocess.Popen[str] | None = None
    if os.environ.get("OPENAI_HOST", "azure") != "local" and not os.environ.get("AZURE_OPENAI_ENDPOINT"):
        simulator = subprocess.Popen(
            [sys.executable, "-m", "dev.simulator", "--port", "0", "--ttft-ms", "400", "--token-ms", "30"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert simulator.stdout is not None
        line = simulator.stdout.readline()
        match = re.search(r"http://\S+", line)
        if not match:
            simulator.kill()
            raise SystemExit(f"the simulator did not start: {line}")
        os.environ.update(
            AZURE_OPENAI_ENDPOINT=match.group(0),
            AZURE_OPENAI_CHAT_DEPLOYMENT=os.environ.get("AZURE_OPENAI_CHAT_DEPLOYMENT") or "simulated",
            AZURE_OPENAI_API_KEY="simulator",
        )
        print(
            f"No AZURE_OPENAI_ENDPOINT is configured: answering from the local Azure OpenAI SIMULATOR at "
            f"{match.group(0)} (canned text, not a model).\nSet AZURE_OPENAI_ENDPOINT and "
            "AZURE_OPENAI_CHAT_DEPLOYMENT (environment or local.settings.json) to use Azure OpenAI.",
            flush=True,
        )
    else:
        target = os.environ.get("LOCAL_OPENAI_ENDPOINT") or os.environ.get("AZURE_OPENAI_ENDPOINT")
        print(f"Using the model at {target}", flush=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "dev.host", "--port", port, "--web", str(ROOT / "web" / "dist")],  # `make web`
            cwd=ROOT,
            check=False,
        )
    except KeyboardInterrupt:
        pass
    finally:
        if simulator is not None:
            simulator.terminate()


if __name__ == "__main__":
    main()
