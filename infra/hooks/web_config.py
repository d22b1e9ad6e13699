"""Write web/config.json from azd outputs before deploying, and put the previous file back after.

azd runs this as the project's predeploy/postdeploy hook (azure.yaml) with the environment's values
(the provision outputs) as environment variables:

    WEB_CONFIG_API_BASE  -> "apiBase": the API origin, or "" for the page's own origin (linked backend)
    WEB_CONFIG_FRAMING   -> "framing": "ndjson" (direct calls) or "sse" (through the Static Web App)

Standard library only, so it runs on any Python 3 that azd finds on PATH (Windows, macOS, Linux).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAMINGS = ("ndjson", "sse")


def build_config(env: Mapping[str, str]) -> dict[str, str]:
    """The config.json object for these azd values; raises ValueError naming what is wrong."""
    if "WEB_CONFIG_FRAMING" not in env:
        raise ValueError("WEB_CONFIG_FRAMING is not set: run `azd provision` (or `azd up`) first")
    framing = env["WEB_CONFIG_FRAMING"].strip()
    if framing not in FRAMINGS:
        raise ValueError(f"WEB_CONFIG_FRAMING must be one of {', '.join(FRAMINGS)}, not {framing!r}")
    api_base = env.get("WEB_CONFIG_API_BASE", "").strip().rstrip("/")
    if api_base and not api_base.startswith("https://"):
        raise ValueError(f"WEB_CONFIG_API_BASE must be empty or an https:// origin, not {api_base!r}")
    return {"apiBase": api_base, "framing": framing}


def _backup_path(root: Path, env: Mapping[str, str]) -> Path:
    # .azure/ is git-ignored and per-checkout, which is where azd keeps its own state too.
    return root / ".azure" / env.get("AZURE_ENV_NAME", "default") / "web-config.backup.json"


def write(root: Path, env: Mapping[str, str]) -> Path:
    config = build_config(env)
    target = root / "web" / "config.json"
    backup = _backup_path(root, env)
    # Keep the first backup: after a failed deploy (no postdeploy) the file holds generated values.
    if not backup.exists():
        backup.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.copyfile(target, backup)
        else:
            backup.write_text("null\n", encoding="utf-8")  # marks "there was no file"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return target


def restore(root: Path, env: Mapping[str, str]) -> None:
    target = root / "web" / "config.json"
    backup = _backup_path(root, env)
    if not backup.exists():
        return
    if backup.read_text(encoding="utf-8").strip() == "null":
        target.unlink(missing_ok=True)
    else:
        shutil.copyfile(backup, target)
    backup.unlink()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("write", "restore"):
        print("usage: web_config.py write|restore", file=sys.stderr)
        return 2
    try:
        if argv[1] == "write":
            path = write(REPO_ROOT, os.environ)
            print(f"web_config: wrote {path.relative_to(REPO_ROOT)}: {path.read_text(encoding='utf-8').strip()}")
        else:
            restore(REPO_ROOT, os.environ)
    except ValueError as error:
        print(f"web_config: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
