"""What the host reads before starting the worker: host.json and local.settings.json."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Flex Consumption's default functionTimeout (host.json may raise it, or set -1 for none).
DEFAULT_FUNCTION_TIMEOUT = 30 * 60.0
_TIMESPAN = re.compile(r"(?:(?P<days>\d+)\.)?(?P<hours>\d+):(?P<minutes>\d+):(?P<seconds>\d+(?:\.\d+)?)")


class ConfigError(Exception):
    """host.json or local.settings.json the host would refuse to start with."""


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str
    function_timeout: float | None  # seconds; None: unbounded

    @classmethod
    def read(cls, app_directory: Path) -> HostConfig:
        path = app_directory / "host.json"
        try:
            host = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except ValueError as error:
            raise ConfigError(f"{path} is not valid JSON: {error}") from None
        prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
        return cls(str(prefix).strip("/"), parse_timeout(host.get("functionTimeout")))


def parse_timeout(value: Any) -> float | None:
    """host.json's functionTimeout, a .NET TimeSpan (`00:30:00`, `1.00:00:00`), or -1 for none."""
    if value is None:
        return DEFAULT_FUNCTION_TIMEOUT
    if str(value).strip() in {"-1", "-00:00:01"}:
        return None
    match = _TIMESPAN.fullmatch(str(value).strip())
    if match is None:
        raise ConfigError(f"host.json functionTimeout {value!r} is not a TimeSpan like 00:30:00 or -1")
    days, hours, minutes = int(match["days"] or 0), int(match["hours"]), int(match["minutes"])
    return ((days * 24 + hours) * 60 + minutes) * 60 + float(match["seconds"])


def load_local_settings(path: Path) -> dict[str, Any]:
    """Put local.settings.json `Values` into the environment; the real environment wins, as in Core Tools."""
    if not path.exists():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None
    for key, value in (settings.get("Values") or {}).items():
        os.environ.setdefault(key, str(value))
    return settings


def cors_origins(settings: dict[str, Any]) -> tuple[list[str], bool]:
    """Allowed origins from `Host.CORS` (as Core Tools reads it), else the `ALLOWED_ORIGINS` setting."""
    host = settings.get("Host") or {}
    listed = str(host.get("CORS") or os.environ.get("ALLOWED_ORIGINS", ""))
    return [o.strip() for o in listed.split(",") if o.strip()], bool(host.get("CORSCredentials"))
