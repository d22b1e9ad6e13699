"""Model retirement facts (infra/models.json) and the rule that judges a model choice against them.

Shared by the preprovision hook (which refuses to deploy a retired model) and tests/infra (which fail
`make test` before the Bicep default gets close to its retirement date). Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

SCHEDULE = Path(__file__).resolve().parents[1] / "models.json"
# How long before the retirement date the repository default counts as stale.
MARGIN_DAYS = 30
# Lifecycle values under which Azure refuses new deployments of a version.
CLOSED_LIFECYCLES = ("Deprecated", "Legacy", "Retired")


@dataclass(frozen=True)
class Entry:
    model: str
    version: str  # "*" for every version
    lifecycle: str
    retires: date


@dataclass(frozen=True)
class Schedule:
    source: str
    read: date
    entries: tuple[Entry, ...]

    def find(self, model: str, version: str) -> Entry | None:
        """The entry for this exact version, else the model's all-versions entry, else None."""
        exact = [e for e in self.entries if e.model == model and e.version == version]
        every = [e for e in self.entries if e.model == model and e.version == "*"]
        return (exact or every or [None])[0]


@dataclass(frozen=True)
class Verdict:
    """What the schedule says of one model version on one day."""

    status: str  # ok | soon | retired | closed | unknown
    model: str
    version: str
    entry: Entry | None
    days_left: int | None

    @property
    def blocks_deploy(self) -> bool:
        """Azure would refuse the deployment (or it would stop working at once)."""
        return self.status in ("retired", "closed")

    def describe(self) -> str:
        subject = f"model {self.model} version {self.version}"
        if self.entry is None:
            return f"{subject} is not in infra/models.json, so its retirement date is unknown"
        when = self.entry.retires.isoformat()
        if self.status == "retired":
            return f"{subject} retired on {when}"
        if self.status == "closed":
            return f"{subject} is {self.entry.lifecycle} (new deployments are refused) and retires on {when}"
        days = f"{self.days_left} day{'' if self.days_left == 1 else 's'}"
        return f"{subject} retires on {when} ({days} from today)"


def load(path: Path = SCHEDULE) -> Schedule:
    """Read the schedule file; raises ValueError naming the entry that is malformed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = []
    for index, item in enumerate(data["models"]):
        try:
            entries.append(
                Entry(
                    model=str(item["model"]),
                    version=str(item["version"]),
                    lifecycle=str(item["lifecycle"]),
                    retires=date.fromisoformat(item["retires"]),
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path.name}: models[{index}] is malformed ({error})") from error
    return Schedule(source=str(data["source"]), read=date.fromisoformat(data["read"]), entries=tuple(entries))


def judge(model: str, version: str, schedule: Schedule, today: date, margin_days: int = MARGIN_DAYS) -> Verdict:
    """Retired (on or after the date), closed to new deployments, due within margin_days, unknown, or ok."""
    entry = schedule.find(model, version)
    if entry is None:
        return Verdict("unknown", model, version, None, None)
    days_left = (entry.retires - today).days
    if days_left <= 0:
        status = "retired"
    elif entry.lifecycle in CLOSED_LIFECYCLES:
        status = "closed"
    elif days_left <= margin_days:
        status = "soon"
    else:
        status = "ok"
    return Verdict(status, model, version, entry, days_left)
