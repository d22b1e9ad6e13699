"""Write the web page's deploy-time files from azd outputs before deploying, and put the previous ones back after.

azd runs this as the project's predeploy/postdeploy hook (azure.yaml) with the environment's values
(the provision outputs) as environment variables:

    WEB_CONFIG_API_BASE  -> "apiBase": the API origin, or "" for the page's own origin (linked backend)
    WEB_CONFIG_FRAMING   -> "framing": "ndjson" (direct calls) or "sse" (through the Static Web App)

`write` puts them in web/config.json and sets the Content Security Policy's connect-src in
web/staticwebapp.config.json to 'self' plus that exact API origin, so the deployed page may call its own
API and no other (the checked-in file says 'self' only). `restore` puts both files back as they were.

Standard library only, so it runs on any Python 3 that azd finds on PATH (Windows, macOS, Linux).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAMINGS = ("ndjson", "sse")
CSP = "Content-Security-Policy"
# An origin and nothing else: a path, query or wildcard would make connect-src looser or wrong.
_ORIGIN = re.compile(r"https://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?")
# web/<file> -> its backup under .azure/<env>/
_FILES = {"config.json": "web-config.backup.json", "staticwebapp.config.json": "staticwebapp-config.backup.json"}


def build_config(env: Mapping[str, str]) -> dict[str, str]:
    """The config.json object for these azd values; raises ValueError naming what is wrong."""
    if "WEB_CONFIG_FRAMING" not in env:
        raise ValueError("WEB_CONFIG_FRAMING is not set: run `azd provision` (or `azd up`) first")
    framing = env["WEB_CONFIG_FRAMING"].strip()
    if framing not in FRAMINGS:
        raise ValueError(f"WEB_CONFIG_FRAMING must be one of {', '.join(FRAMINGS)}, not {framing!r}")
    api_base = env.get("WEB_CONFIG_API_BASE", "").strip().rstrip("/")
    if api_base and not _ORIGIN.fullmatch(api_base):
        raise ValueError(f"WEB_CONFIG_API_BASE must be empty or an https:// origin (no path), not {api_base!r}")
    return {"apiBase": api_base, "framing": framing}


def with_connect_src(policy: str, api_base: str) -> str:
    """The policy with connect-src replaced by 'self' and, when the API is elsewhere, its origin."""
    directives = [part.strip() for part in policy.split(";") if part.strip()]
    names = [part.split()[0].lower() for part in directives]
    if names.count("connect-src") != 1:
        raise ValueError(f"the {CSP} in web/staticwebapp.config.json needs exactly one connect-src directive")
    connect = f"connect-src 'self' {api_base}" if api_base else "connect-src 'self'"
    directives[names.index("connect-src")] = connect
    return "; ".join(directives)


def build_swa_config(current: Mapping[str, Any], api_base: str) -> dict[str, Any]:
    """staticwebapp.config.json with the API origin in its CSP's connect-src; everything else as it was."""
    headers = current.get("globalHeaders")
    if not isinstance(headers, dict) or not isinstance(headers.get(CSP), str):
        raise ValueError(f"web/staticwebapp.config.json has no globalHeaders {CSP!r} to write the API origin into")
    return {**current, "globalHeaders": {**headers, CSP: with_connect_src(headers[CSP], api_base)}}


def _backup_path(root: Path, env: Mapping[str, str], name: str) -> Path:
    # .azure/ is git-ignored and per-checkout, which is where azd keeps its own state too.
    return root / ".azure" / env.get("AZURE_ENV_NAME", "default") / _FILES[name]


def _original(target: Path, backup: Path) -> str | None:
    """The developer's file: the backup if one is waiting (a deploy failed before postdeploy), else the file."""
    if backup.exists():
        text = backup.read_text(encoding="utf-8")
        return None if text.strip() == "null" else text
    return target.read_text(encoding="utf-8") if target.exists() else None


def write(root: Path, env: Mapping[str, str]) -> list[Path]:
    config = build_config(env)
    web = root / "web"
    swa_target = web / "staticwebapp.config.json"
    swa_text = _original(swa_target, _backup_path(root, env, swa_target.name))
    if swa_text is None:
        raise ValueError("web/staticwebapp.config.json is missing: it carries the page's Content Security Policy")
    try:
        swa = build_swa_config(json.loads(swa_text), config["apiBase"])
    except json.JSONDecodeError as error:
        raise ValueError(f"web/staticwebapp.config.json is not valid JSON: {error}") from error
    generated = {"config.json": config, "staticwebapp.config.json": swa}
    written = []
    for name, content in generated.items():
        target, backup = web / name, _backup_path(root, env, name)
        # Keep the first backup: after a failed deploy (no postdeploy) the file holds generated values.
        if not backup.exists():
            backup.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.copyfile(target, backup)
            else:
                backup.write_text("null\n", encoding="utf-8")  # marks "there was no file"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
        # `azd up` builds web/dist (what is deployed) before provisioning: update the built copy too.
        built = web / "dist" / name
        if built.parent.is_dir():
            shutil.copyfile(target, built)
            written.append(built)
    return written


def restore(root: Path, env: Mapping[str, str]) -> None:
    for name in _FILES:
        target, backup = root / "web" / name, _backup_path(root, env, name)
        if not backup.exists():
            continue
        if backup.read_text(encoding="utf-8").strip() == "null":
            target.unlink(missing_ok=True)
        else:
            shutil.copyfile(backup, target)
        backup.unlink()
        built = root / "web" / "dist" / name
        if built.parent.is_dir():
            built.unlink(missing_ok=True)
            if target.exists():
                shutil.copyfile(target, built)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("write", "restore"):
        print("usage: web_config.py write|restore", file=sys.stderr)
        return 2
    try:
        if argv[1] == "write":
            config, swa = write(REPO_ROOT, os.environ)
            print(f"web_config: wrote {config.relative_to(REPO_ROOT)}: {config.read_text(encoding='utf-8').strip()}")
            policy = json.loads(swa.read_text(encoding="utf-8"))["globalHeaders"][CSP]
            connect = next(part.strip() for part in policy.split(";") if part.strip().startswith("connect-src"))
            print(f"web_config: wrote {swa.relative_to(REPO_ROOT)}: {connect}")
        else:
            restore(REPO_ROOT, os.environ)
    except ValueError as error:
        print(f"web_config: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
