"""The default chat model is GA and not about to retire, judged against infra/models.json on today's date.

The check itself (`default_model_problems`) is also run on fixed dates and on a template whose default
is retired, so it is shown to fail when it should.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, Template, load

sys.path.insert(0, str(INFRA / "hooks"))
import retirement

MAIN = load(INFRA / "main.bicep")
SCHEDULE = retirement.load()
FIX = "bump chatModelName/chatModelVersion in infra/main.bicep (see infra/models.json)"


def default_model_problems(template: Template, schedule: retirement.Schedule, today: date) -> list[str]:
    """Why the template's default model may not stay the default, as actionable messages."""
    model, version = template.params["chatModelName"].default, template.params["chatModelVersion"].default
    verdict = retirement.judge(model, version, schedule, today)
    problems = []
    if verdict.status != "ok":
        problems.append(f"{verdict.describe()}: {FIX}")
    if verdict.entry is not None and verdict.entry.lifecycle != "GA":
        problems.append(f"model {model} version {version} is {verdict.entry.lifecycle}, not GA: {FIX}")
    return problems


def test_the_default_model_is_ga_and_not_within_30_days_of_retirement():
    assert default_model_problems(MAIN, SCHEDULE, date.today()) == []


def test_the_default_is_the_one_chosen_in_the_docs():
    # docs/deploy.md and the README explain this choice; changing it means changing them too.
    assert (MAIN.params["chatModelName"].default, MAIN.params["chatModelVersion"].default) == (
        "gpt-5.4-mini",
        "2026-03-17",
    )
    assert MAIN.params["chatDeploymentSku"].default == "GlobalStandard"
    assert MAIN.params["chatDeploymentCapacity"].default == 50


def template_with_default(tmp_path: Path, model: str, version: str) -> Template:
    source = (INFRA / "main.bicep").read_text()
    source = source.replace("param chatModelName string = 'gpt-5.4-mini'", f"param chatModelName string = '{model}'")
    source = source.replace(
        "param chatModelVersion string = '2026-03-17'", f"param chatModelVersion string = '{version}'"
    )
    path = tmp_path / f"main-{model}.bicep"
    path.write_text(source)
    return load(path)


def test_a_retired_default_fails_with_the_date_and_what_to_change(tmp_path: Path):
    template = template_with_default(tmp_path, "gpt-4o-mini", "2024-07-18")
    assert template.params["chatModelName"].default == "gpt-4o-mini"
    assert default_model_problems(template, SCHEDULE, date.today()) == [
        f"model gpt-4o-mini version 2024-07-18 retired on 2026-10-01: {FIX}",
        f"model gpt-4o-mini version 2024-07-18 is Deprecated, not GA: {FIX}",
    ]


def test_a_default_missing_from_the_data_file_fails(tmp_path: Path):
    template = template_with_default(tmp_path, "gpt-9-mini", "2027-01-01")
    (problem,) = default_model_problems(template, SCHEDULE, date(2026, 12, 1))
    assert (
        problem
        == f"model gpt-9-mini version 2027-01-01 is not in infra/models.json, so its retirement date is unknown: {FIX}"
    )


@pytest.mark.parametrize(
    ("today", "problem"),
    [
        (date(2026, 12, 1), None),  # 107 days left: the day the default was chosen
        (date(2027, 2, 15), None),  # 31 days left
        (date(2027, 2, 16), "retires on 2027-03-18 (30 days from today)"),
        (date(2027, 3, 17), "retires on 2027-03-18 (1 day from today)"),
        (date(2027, 3, 18), "retired on 2027-03-18"),
        (date(2028, 1, 1), "retired on 2027-03-18"),
    ],
)
def test_the_check_on_fixed_dates(today: date, problem: str | None):
    problems = default_model_problems(MAIN, SCHEDULE, today)
    if problem is None:
        assert problems == []
    else:
        assert problems == [f"model gpt-5.4-mini version 2026-03-17 {problem}: {FIX}"]


def schedule_of(*entries: tuple[str, str, str, str]) -> retirement.Schedule:
    return retirement.Schedule(
        source="test",
        read=date(2026, 12, 1),
        entries=tuple(retirement.Entry(m, v, life, date.fromisoformat(d)) for m, v, life, d in entries),
    )


def test_judge_statuses():
    schedule = schedule_of(
        ("a", "1", "GA", "2027-06-01"),
        ("b", "*", "Deprecated", "2027-06-01"),
        ("b", "2", "GA", "2027-06-01"),
        ("c", "1", "Preview", "2026-12-20"),
    )
    today = date(2026, 12, 1)
    assert retirement.judge("a", "1", schedule, today).status == "ok"
    assert retirement.judge("a", "2", schedule, today).status == "unknown"
    assert retirement.judge("b", "2", schedule, today).status == "ok"  # an exact version beats "*"
    assert retirement.judge("b", "9", schedule, today).status == "closed"
    assert retirement.judge("c", "1", schedule, today).status == "soon"
    assert retirement.judge("c", "1", schedule, date(2026, 12, 20)).status == "retired"
    assert retirement.judge("a", "1", schedule, today, margin_days=182).status == "soon"
    assert not retirement.judge("c", "1", schedule, today).blocks_deploy
    assert retirement.judge("b", "9", schedule, today).blocks_deploy


# ---- The data file ---------------------------------------------------------------------------------------

# What docs/deploy.md and ../shared/PLATFORM.md rely on: the former defaults and the GA gpt-5 family.
REQUIRED = {
    ("gpt-4o-mini", "2024-07-18"): "2026-10-01",
    ("gpt-4.1-mini", "2025-04-14"): "2026-10-14",
    ("gpt-4o", "*"): "2026-10-01",
    ("o4-mini", "2025-04-16"): "2026-10-16",
    ("gpt-5", "2025-08-07"): "2027-02-06",
    ("gpt-5-mini", "2025-08-07"): "2027-02-06",
    ("gpt-5-nano", "2025-08-07"): "2027-02-06",
    ("gpt-5.1", "2025-11-13"): "2027-05-15",
    ("gpt-5.2", "2025-12-11"): "2026-12-12",
    ("gpt-5.4", "2026-03-05"): "2027-03-05",
    ("gpt-5.4-mini", "2026-03-17"): "2027-03-18",
    ("gpt-5.4-nano", "2026-03-17"): "2027-03-18",
    ("gpt-5.5", "2026-04-24"): "2027-04-23",
}


def test_the_data_file_names_its_source_and_when_it_was_read():
    assert SCHEDULE.source == "Microsoft Learn, Foundry Models retirement schedule (Azure OpenAI table)"
    assert SCHEDULE.read == date(2026, 12, 1)


def test_the_data_file_covers_the_models_relied_on():
    found = {(e.model, e.version): e.retires.isoformat() for e in SCHEDULE.entries}
    assert {key: found.get(key) for key in REQUIRED} == REQUIRED


def test_the_data_file_has_one_entry_per_version_and_known_lifecycles():
    keys = [(e.model, e.version) for e in SCHEDULE.entries]
    assert len(keys) == len(set(keys))
    assert {e.lifecycle for e in SCHEDULE.entries} <= {"GA", "Preview", *retirement.CLOSED_LIFECYCLES}


def test_a_malformed_entry_is_named(tmp_path: Path):
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"source": "s", "read": "2026-12-01", "models": [{"model": "x", "version": "1"}]}))
    with pytest.raises(ValueError, match=r"models\[0\] is malformed"):
        retirement.load(path)
