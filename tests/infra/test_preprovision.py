"""The preprovision hook: what it reads as the model choice, and what it decides from `az`'s answers.

The Azure CLI cannot run here (no network, no account), so `az` is a fake executable on PATH that logs
its arguments and prints JSON shaped like `az cognitiveservices model list` / `usage list` output
(every key a real listing has, written for these tests). That tests the hook's parsing and decisions,
not Azure's answers: which regions really offer a model can only be seen with a signed-in `az`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep import INFRA, REPO_ROOT, Expr, Ref, load

sys.path.insert(0, str(INFRA / "hooks"))
import preprovision

MAIN = load(INFRA / "main.bicep")
TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SUBSCRIPTION = "00000000-0000-0000-0000-00000000abcd"


# ---- What azd will pass: environment values, else the Bicep defaults ------------------------------------


def test_the_hook_reads_the_same_defaults_as_the_bicep_parser():
    defaults = preprovision.bicep_defaults(MAIN.text)
    for name, param in MAIN.params.items():
        if isinstance(param.default, (str, int)) and not isinstance(param.default, bool):
            assert defaults[name] == param.default, name
        elif isinstance(param.default, Ref):
            assert defaults[name] == ("ref", param.default.text), name
        elif isinstance(param.default, Expr):
            assert name not in defaults, name  # utcNow(...) and friends are azd's to evaluate


def test_the_default_choice():
    choice = preprovision.read_choice(REPO_ROOT, {"AZURE_LOCATION": "EastUS2", "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION})
    assert choice == preprovision.Choice(
        model="gpt-5.4-mini",
        version="2026-03-17",
        sku="GlobalStandard",
        capacity=50,
        location="eastus2",  # openAiLocation defaults to location
        subscription=SUBSCRIPTION,
        existing_account="",
    )


def test_environment_values_win_and_empty_ones_do_not():
    env = {
        "AZURE_LOCATION": "eastus",
        "AZURE_OPENAI_LOCATION": "swedencentral",
        "AZURE_OPENAI_CHAT_MODEL_NAME": "gpt-5.5",
        "AZURE_OPENAI_CHAT_MODEL_VERSION": "2026-04-24",
        "AZURE_OPENAI_CHAT_DEPLOYMENT_SKU": " ",
        "AZURE_OPENAI_CHAT_DEPLOYMENT_CAPACITY": "20",
    }
    choice = preprovision.read_choice(REPO_ROOT, env)
    assert (choice.model, choice.version, choice.sku, choice.capacity, choice.location) == (
        "gpt-5.5",
        "2026-04-24",
        "GlobalStandard",
        20,
        "swedencentral",
    )


# ---- Listings shaped like az's --------------------------------------------------------------------------------


def sku(name: str, model: str, maximum: int = 1_000_000, ends: str = "2027-03-18T00:00:00+00:00") -> dict[str, Any]:
    return {
        "capacity": {"default": 10, "maximum": maximum, "minimum": None, "step": None},
        "deprecationDate": ends,
        "name": name,
        "rateLimits": [{"count": 1.0, "key": "request", "renewalPeriod": 60.0, "rules": None}],
        "usageName": f"OpenAI.{name}.{model}",
    }


def listed(name: str, version: str, skus: list[dict[str, Any]], kind: str = "OpenAI") -> dict[str, Any]:
    return {
        "kind": kind,
        "model": {
            "baseModel": None,
            "callRateLimit": None,
            "capabilities": {"chatCompletion": "true", "responses": "true", "maxOutputToken": "128000"},
            "deprecation": {"fineTune": None, "inference": "2027-03-18T00:00:00Z"},
            "finetuneCapabilities": None,
            "format": "OpenAI",
            "isDefaultVersion": True,
            "lifecycleStatus": "GenerallyAvailable",
            "maxCapacity": 10,
            "name": name,
            "skus": skus,
            "source": None,
            "systemData": {"createdAt": "2026-03-17T00:00:00+00:00", "createdBy": "Microsoft"},
            "version": version,
        },
        "skuName": "S0",
    }


MINI = [
    listed("gpt-5.4-mini", "2026-03-17", [sku("GlobalStandard", "gpt-5.4-mini")]),
    listed("gpt-5.4-mini", "2026-03-17", [sku("GlobalStandard", "gpt-5.4-mini")], kind="AIServices"),
    listed("gpt-4o-mini", "2024-07-18", [sku("GlobalStandard", "gpt-4o-mini", ends="2026-10-01T00:00:00+00:00")]),
]
ELSEWHERE = [listed("gpt-5.5", "2026-04-24", [sku("GlobalStandard", "gpt-5.5")])]


def usage(name: str, used: float, limit: float) -> dict[str, Any]:
    return {
        "currentValue": used,
        "limit": limit,
        "name": {"localizedValue": f"Tokens Per Minute (thousands) - {name}", "value": name},
        "nextResetTime": None,
        "quotaPeriod": None,
        "status": None,
        "unit": "Count",
    }


FAKE_AZ = """#!{python}
import json, os, pathlib, sys
root = pathlib.Path(os.environ["FAKE_AZ_DIR"])
args = sys.argv[1:]
with open(root / "calls.log", "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\\n")
def option(name):
    return args[args.index(name) + 1] if name in args else None
if args[:2] == ["account", "show"]:
    if (root / "signed-out").exists():
        print("ERROR: Please run 'az login' to setup account.", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({{"id": option("--subscription") or "sub", "state": "Enabled"}}))
    sys.exit(0)
kind = {{("model", "list"): "models", ("usage", "list"): "usage"}}.get(tuple(args[1:3]))
answer = root / str(kind) / (str(option("--location")) + ".json")
if args[:1] != ["cognitiveservices"] or not answer.exists():
    print("ERROR: (NoRegisteredProviderFound) No registered resource provider found for location.", file=sys.stderr)
    sys.exit(1)
print(answer.read_text(encoding="utf-8"))
"""


class FakeAz:
    """A directory holding a fake `az` and the answers it gives, per command and region."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "az"
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True)
        script = self.bin / "az"
        script.write_text(FAKE_AZ.format(python=sys.executable))
        script.chmod(0o755)

    def models(self, region: str, listing: list[dict[str, Any]]) -> FakeAz:
        return self._answer("models", region, listing)

    def usages(self, region: str, usages: list[dict[str, Any]]) -> FakeAz:
        return self._answer("usage", region, usages)

    def sign_out(self) -> None:
        (self.root / "signed-out").touch()

    def _answer(self, kind: str, region: str, data: list[dict[str, Any]]) -> FakeAz:
        (self.root / kind).mkdir(exist_ok=True)
        (self.root / kind / f"{region}.json").write_text(json.dumps(data, indent=2))
        return self

    def env(self, **values: str) -> dict[str, str]:
        return {"PATH": str(self.bin), "FAKE_AZ_DIR": str(self.root), "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION, **values}

    def calls(self) -> list[list[str]]:
        log = self.root / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def az(tmp_path: Path) -> FakeAz:
    if os.name == "nt":
        pytest.skip("the fake az is a POSIX script")
    return FakeAz(tmp_path)


def hook(
    env: dict[str, str], today: date = TODAY, regions: tuple[str, ...] = ("eastus2", "swedencentral", "japaneast")
):
    return preprovision.run_hook(REPO_ROOT, env, today, NOW, regions)


# ---- Decisions ------------------------------------------------------------------------------------------------


def test_the_default_model_offered_in_the_region_passes_without_asking_other_regions(az: FakeAz, capsys):
    az.models("eastus", MINI).usages("eastus", [usage("OpenAI.GlobalStandard.gpt-5.4-mini", 0, 1000)])
    assert hook(az.env(AZURE_LOCATION="eastus")) == 0
    out = capsys.readouterr().out
    assert "gpt-5.4-mini version 2026-03-17 retires on 2027-03-18 (107 days from today)" in out
    assert "gpt-5.4-mini 2026-03-17 (GlobalStandard, capacity 50) is offered in eastus" in out
    assert "warning" not in out
    suffix = ["--subscription", SUBSCRIPTION, "--only-show-errors", "--output", "json"]
    assert az.calls() == [
        ["account", "show", "--only-show-errors", "--output", "json"],
        ["cognitiveservices", "model", "list", "--location", "eastus", *suffix],
        ["cognitiveservices", "usage", "list", "--location", "eastus", *suffix],
    ]


def test_a_region_without_the_model_fails_and_names_the_regions_that_have_it(az: FakeAz, capsys):
    az.models("westus", ELSEWHERE).models("eastus2", MINI).models("japaneast", MINI).models("swedencentral", ELSEWHERE)
    assert hook(az.env(AZURE_LOCATION="westus")) == 1
    err = capsys.readouterr().err
    assert "cannot be deployed in westus: gpt-5.4-mini is not offered. Offered in: eastus2, japaneast." in err
    assert "azd env set AZURE_OPENAI_LOCATION" in err
    asked = sorted(call[4] for call in az.calls() if call[:3] == ["cognitiveservices", "model", "list"])
    assert asked == ["eastus2", "japaneast", "swedencentral", "westus"]


def test_no_candidate_region_offering_it_is_said_too(az: FakeAz, capsys):
    az.models("westus", ELSEWHERE)  # the candidates answer with errors
    assert hook(az.env(AZURE_LOCATION="westus")) == 1
    assert "Offered in: none of the candidate regions either." in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "listing", "reason"),
    [
        (
            {"AZURE_OPENAI_CHAT_DEPLOYMENT_SKU": "Standard"},
            MINI,
            "version 2026-03-17 is offered with SKUs GlobalStandard, not Standard",
        ),
        (
            {"AZURE_OPENAI_CHAT_MODEL_VERSION": "2026-09-01"},
            MINI,
            "version 2026-09-01 is not offered (versions here: 2026-03-17)",
        ),
        (
            {},
            [listed("gpt-5.4-mini", "2026-03-17", [sku("GlobalStandard", "gpt-5.4-mini", maximum=30)])],
            "capacity 50 is above the GlobalStandard maximum of 30",
        ),
        (
            {},
            [
                listed(
                    "gpt-5.4-mini", "2026-03-17", [sku("GlobalStandard", "gpt-5.4-mini", ends="2026-11-30T00:00:00Z")]
                )
            ],
            "its GlobalStandard SKU ended on 2026-11-30",
        ),
        ({}, [MINI[1]], "gpt-5.4-mini is not offered"),  # AI Services accounts only: not for kind OpenAI
        ({}, [{"kind": "OpenAI", "model": None}, "junk", MINI[0]], None),  # odd entries are skipped
    ],
)
def test_what_counts_as_offered(az: FakeAz, capsys, env: dict[str, str], listing, reason: str | None):
    az.models("eastus", listing)
    code = hook(az.env(AZURE_LOCATION="eastus", **env), regions=())
    err = capsys.readouterr().err
    if reason is None:
        assert code == 0, err
    else:
        assert code == 1 and f"cannot be deployed in eastus: {reason}." in err


def test_too_little_quota_is_a_warning_only(az: FakeAz, capsys):
    az.models("eastus", MINI).usages("eastus", [usage("OpenAI.GlobalStandard.gpt-5.4-mini", 980, 1000)])
    assert hook(az.env(AZURE_LOCATION="eastus")) == 0
    out = capsys.readouterr().out
    assert "warning: OpenAI.GlobalStandard.gpt-5.4-mini has 20 of quota left in eastus" in out
    assert "asks for 50" in out


def test_a_retired_model_stops_before_az_is_asked(az: FakeAz, capsys):
    env = az.env(AZURE_LOCATION="eastus", AZURE_OPENAI_CHAT_MODEL_NAME="gpt-4o-mini")
    env["AZURE_OPENAI_CHAT_MODEL_VERSION"] = "2024-07-18"
    assert hook(env) == 1
    err = capsys.readouterr().err
    assert "model gpt-4o-mini version 2024-07-18 retired on 2026-10-01: set AZURE_OPENAI_CHAT_MODEL_NAME" in err
    assert az.calls() == []


def test_a_deprecated_model_stops_too(az: FakeAz, capsys):
    env = az.env(AZURE_OPENAI_CHAT_MODEL_NAME="gpt-4.1-mini", AZURE_OPENAI_CHAT_MODEL_VERSION="2025-04-14")
    assert hook(env, today=date(2026, 9, 1)) == 1
    assert "is Deprecated (new deployments are refused) and retires on 2026-10-14" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "today", "warning"),
    [
        ({}, date(2027, 3, 1), "warning: model gpt-5.4-mini version 2026-03-17 retires on 2027-03-18 (17 days"),
        (
            {"AZURE_OPENAI_CHAT_MODEL_NAME": "gpt-9", "AZURE_OPENAI_CHAT_MODEL_VERSION": "2027-01-01"},
            TODAY,
            "warning: model gpt-9 version 2027-01-01 is not in infra/models.json",
        ),
    ],
)
def test_a_model_near_retirement_or_unknown_is_warned_about_and_still_checked(az: FakeAz, capsys, env, today, warning):
    az.models("eastus", MINI)
    code = hook(az.env(AZURE_LOCATION="eastus", **env), today=today, regions=())
    captured = capsys.readouterr()
    assert warning in captured.out
    assert any(call[:3] == ["cognitiveservices", "model", "list"] for call in az.calls())
    assert code == (0 if not env else 1)  # gpt-9 is not in the fake listing either


def test_without_az_the_check_is_skipped(tmp_path: Path, capsys):
    assert hook({"PATH": str(tmp_path), "AZURE_LOCATION": "eastus"}) == 0
    assert "az is not on PATH: region check skipped" in capsys.readouterr().out


def test_signed_out_az_skips_the_check(az: FakeAz, capsys):
    az.sign_out()
    az.models("eastus", MINI)
    assert hook(az.env(AZURE_LOCATION="eastus")) == 0
    assert "az is not signed in (`az login`): region check skipped" in capsys.readouterr().out
    assert [call[:2] for call in az.calls()] == [["account", "show"]]


def test_a_failing_listing_skips_rather_than_blocks(az: FakeAz, capsys):
    assert hook(az.env(AZURE_LOCATION="eastus")) == 0  # no answer recorded for eastus: az exits 1
    assert "`az cognitiveservices model list --location eastus` failed; region check skipped" in capsys.readouterr().out


def test_no_region_yet_skips(az: FakeAz, capsys):
    assert hook(az.env()) == 0
    assert "no region chosen yet" in capsys.readouterr().out


def test_an_existing_account_skips_everything(az: FakeAz, capsys):
    env = az.env(AZURE_LOCATION="eastus", AZURE_OPENAI_EXISTING_NAME="oai-shared")
    env["AZURE_OPENAI_CHAT_MODEL_NAME"] = "gpt-4o-mini"  # not deployed by us: not ours to refuse
    assert hook(env) == 0
    assert "existing account oai-shared" in capsys.readouterr().out
    assert az.calls() == []


def test_a_malformed_capacity_is_a_clear_error(az: FakeAz, capsys):
    assert hook(az.env(AZURE_OPENAI_CHAT_DEPLOYMENT_CAPACITY="lots")) == 1
    assert "chatDeploymentCapacity must be a whole number" in capsys.readouterr().err


# ---- The script as azd runs it --------------------------------------------------------------------------------


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = INFRA / "hooks" / "preprovision.py"
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=False)


def test_the_script_passes_for_the_default_model(az: FakeAz):
    az.models("eastus", MINI)
    completed = run_script(az.env(AZURE_LOCATION="eastus"))
    assert completed.returncode == 0, completed.stderr
    assert "is offered in eastus" in completed.stdout


def test_the_script_exits_1_for_a_retired_model(az: FakeAz):
    env = az.env(AZURE_OPENAI_CHAT_MODEL_NAME="gpt-4o", AZURE_OPENAI_CHAT_MODEL_VERSION="2024-11-20")
    completed = run_script(env)
    assert completed.returncode == 1
    assert "model gpt-4o version 2024-11-20 retired on 2026-10-01" in completed.stderr
    assert "Traceback" not in completed.stderr
