"""azd preprovision hook: refuse a retired chat model, and check the region offers the model, version and SKU.

Runs before `azd provision` (azure.yaml) with the azd environment's values as environment variables.
The model choice is what `azd provision` will use: an environment value named in
infra/main.parameters.json when it is set, otherwise the default in infra/main.bicep.

1. Retirement (infra/models.json): a retired version, or one whose lifecycle refuses new deployments,
   stops here with exit code 1; one due within 30 days or missing from the file gets a warning.
2. Availability (only where `az` is on PATH and signed in; otherwise the check is skipped, exit 0):
   `az cognitiveservices model list --location <region>` must list the model and version with the SKU
   for an Azure OpenAI account. When it does not, the candidate regions are asked too, the ones that
   offer it are printed, and the exit code is 1. Quota left for the SKU is reported as a warning only,
   since a re-provision already holds its own deployment's share.

Standard library only, Python 3.9 or later, so it runs on whatever Python azd finds on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import retirement

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFIX = "preprovision:"
# Regions listed for Global Standard deployments of current gpt-5 models (Learn, "Global Standard model
# availability", read 2026-12-01). Only asked when the chosen region lacks the model; the answer is az's.
CANDIDATE_REGIONS = (
    "eastus",
    "eastus2",
    "centralus",
    "northcentralus",
    "southcentralus",
    "westus",
    "westus3",
    "canadacentral",
    "canadaeast",
    "brazilsouth",
    "swedencentral",
    "westeurope",
    "francecentral",
    "germanywestcentral",
    "italynorth",
    "norwayeast",
    "polandcentral",
    "spaincentral",
    "switzerlandnorth",
    "switzerlandwest",
    "uksouth",
    "uaenorth",
    "southafricanorth",
    "australiaeast",
    "japaneast",
    "koreacentral",
    "southeastasia",
    "southindia",
)
AZ_TIMEOUT_SECONDS = 120
_PARAM = re.compile(r"^param\s+(\w+)\s+\w+\s*=\s*(.+?)\s*(?://.*)?$")


@dataclass(frozen=True)
class Choice:
    """The chat deployment azd is about to provision."""

    model: str
    version: str
    sku: str
    capacity: int
    location: str
    subscription: str
    existing_account: str


def bicep_defaults(source: str) -> dict[str, Any]:
    """Literal defaults of `param` lines: str, int, or ('ref', name) for a default naming another param."""
    defaults: dict[str, Any] = {}
    for line in source.splitlines():
        match = _PARAM.match(line.strip())
        if not match:
            continue
        name, raw = match[1], match[2]
        if raw.startswith("'") and raw.endswith("'"):
            defaults[name] = raw[1:-1]
        elif raw.isdigit():
            defaults[name] = int(raw)
        elif re.fullmatch(r"[A-Za-z_]\w*", raw) and raw not in ("true", "false", "null"):
            defaults[name] = ("ref", raw)
    return defaults


def parameter_env_names(parameters: Mapping[str, Any]) -> dict[str, str]:
    """Parameter name -> the azd environment variable main.parameters.json substitutes into it."""
    names = {}
    for name, entry in parameters["parameters"].items():
        match = re.fullmatch(r"\$\{([A-Z0-9_]+)\}", str(entry.get("value", "")))
        if match:
            names[name] = match[1]
    return names


def resolve(name: str, env: Mapping[str, str], defaults: Mapping[str, Any], env_names: Mapping[str, str]) -> Any:
    """What azd passes for a parameter: its non-empty environment value, else the Bicep default."""
    variable = env_names.get(name)
    if variable and env.get(variable, "").strip():
        return env[variable].strip()
    default = defaults.get(name, "")
    if isinstance(default, tuple):
        return resolve(default[1], env, defaults, env_names)
    return default


def read_choice(root: Path, env: Mapping[str, str]) -> Choice:
    """The model, version, SKU, capacity and region `azd provision` will use; ValueError when malformed."""
    infra = root / "infra"
    defaults = bicep_defaults((infra / "main.bicep").read_text(encoding="utf-8"))
    env_names = parameter_env_names(json.loads((infra / "main.parameters.json").read_text(encoding="utf-8")))

    def value(name: str) -> str:
        return str(resolve(name, env, defaults, env_names))

    capacity = value("chatDeploymentCapacity")
    if not capacity.isdigit():
        raise ValueError(
            f"chatDeploymentCapacity must be a whole number (thousands of tokens per minute): {capacity!r}"
        )
    return Choice(
        model=value("chatModelName"),
        version=value("chatModelVersion"),
        sku=value("chatDeploymentSku"),
        capacity=int(capacity),
        location=value("openAiLocation").lower(),
        subscription=env.get("AZURE_SUBSCRIPTION_ID", "").strip(),
        existing_account=value("existingOpenAiName"),
    )


# ---- What `az cognitiveservices model list` and `usage list` say -----------------------------------------


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)  # noqa: UP017 (datetime.UTC is 3.11+)


def find_sku(listing: Sequence[Any], choice: Choice, now: datetime) -> tuple[dict[str, Any] | None, str]:
    """The SKU entry that offers choice.model/version to an Azure OpenAI account, or None and why not."""
    versions: set[str] = set()
    reason = ""
    for item in listing:
        model = item.get("model") if isinstance(item, dict) else None
        if not isinstance(model, dict) or item.get("kind") != "OpenAI" or model.get("format") != "OpenAI":
            continue
        if model.get("name") != choice.model:
            continue
        versions.add(str(model.get("version")))
        if model.get("version") != choice.version:
            continue
        skus = [sku for sku in model.get("skus") or [] if isinstance(sku, dict)]
        names = ", ".join(sorted(str(sku.get("name")) for sku in skus)) or "none"
        reason = f"version {choice.version} is offered with SKUs {names}, not {choice.sku}"
        for sku in skus:
            if sku.get("name") != choice.sku:
                continue
            ends = _parse_time(sku.get("deprecationDate") or "")
            maximum = (sku.get("capacity") or {}).get("maximum")
            if ends is not None and ends <= now:
                reason = f"its {choice.sku} SKU ended on {ends.date().isoformat()}"
            elif isinstance(maximum, (int, float)) and choice.capacity > maximum:
                reason = f"capacity {choice.capacity} is above the {choice.sku} maximum of {int(maximum)}"
            else:
                return sku, ""
    if reason:
        return None, reason
    if versions:
        return None, f"version {choice.version} is not offered (versions here: {', '.join(sorted(versions))})"
    return None, f"{choice.model} is not offered"


def quota_left(usages: Sequence[Any], usage_name: str) -> float | None:
    """Unused quota (in deployment capacity units) for one usage name, or None when not listed."""
    for usage in usages:
        name = (usage.get("name") or {}).get("value") if isinstance(usage, dict) else None
        if name == usage_name and isinstance(usage.get("limit"), (int, float)):
            return float(usage["limit"]) - float(usage.get("currentValue") or 0)
    return None


# ---- Talking to az -----------------------------------------------------------------------------------------

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def az_runner(az: str, env: Mapping[str, str]) -> Runner:
    def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [az, *args, "--only-show-errors", "--output", "json"],
            capture_output=True,
            text=True,
            timeout=AZ_TIMEOUT_SECONDS,
            env=dict(env),
            check=False,
        )

    return run


def az_json(run: Runner, args: Sequence[str]) -> Any:
    """Parsed JSON output of one az call, or None when it failed or printed something else."""
    try:
        completed = run(args)
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    try:
        return json.loads(completed.stdout)
    except ValueError:
        return None


def _scoped(args: list[str], choice: Choice) -> list[str]:
    return [*args, "--subscription", choice.subscription] if choice.subscription else args


def model_listing(run: Runner, choice: Choice, location: str) -> list[Any] | None:
    listing = az_json(run, _scoped(["cognitiveservices", "model", "list", "--location", location], choice))
    return listing if isinstance(listing, list) else None


def regions_offering(run: Runner, choice: Choice, now: datetime, regions: Sequence[str]) -> list[str]:
    """The candidate regions whose listing offers the choice, in the candidates' order."""

    def offers(region: str) -> bool:
        listing = model_listing(run, choice, region)
        return listing is not None and find_sku(listing, choice, now)[0] is not None

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = dict(pool.map(lambda region: (region, offers(region)), regions))
    return [region for region in regions if answers[region]]


# ---- The hook ------------------------------------------------------------------------------------------------


def check_retirement(choice: Choice, schedule: retirement.Schedule, today: date) -> int:
    verdict = retirement.judge(choice.model, choice.version, schedule, today)
    fix = "set AZURE_OPENAI_CHAT_MODEL_NAME and AZURE_OPENAI_CHAT_MODEL_VERSION (azd env set ...) to a current model"
    if verdict.blocks_deploy:
        print(f"{PREFIX} {verdict.describe()}: {fix} (see infra/models.json)", file=sys.stderr)
        return 1
    if verdict.status in ("soon", "unknown"):
        print(f"{PREFIX} warning: {verdict.describe()}; {fix} soon (see infra/models.json)")
    else:
        print(f"{PREFIX} {verdict.describe()}")
    return 0


def check_region(choice: Choice, run: Runner, now: datetime, candidates: Sequence[str]) -> int:
    listing = model_listing(run, choice, choice.location)
    if listing is None:
        print(f"{PREFIX} `az cognitiveservices model list --location {choice.location}` failed; region check skipped")
        return 0
    sku, reason = find_sku(listing, choice, now)
    what = f"{choice.model} {choice.version} ({choice.sku}, capacity {choice.capacity})"
    if sku is None:
        others = regions_offering(run, choice, now, [r for r in candidates if r != choice.location])
        where = ", ".join(others) if others else "none of the candidate regions either"
        print(
            f"{PREFIX} {what} cannot be deployed in {choice.location}: {reason}. Offered in: {where}. "
            "Set AZURE_OPENAI_LOCATION (azd env set AZURE_OPENAI_LOCATION <region>) or pick another model or SKU.",
            file=sys.stderr,
        )
        return 1
    print(f"{PREFIX} {what} is offered in {choice.location}")
    usages = az_json(run, _scoped(["cognitiveservices", "usage", "list", "--location", choice.location], choice))
    left = quota_left(usages, str(sku.get("usageName"))) if isinstance(usages, list) else None
    if left is not None and left < choice.capacity:
        print(
            f"{PREFIX} warning: {sku.get('usageName')} has {left:g} of quota left in {choice.location} and the "
            f"deployment asks for {choice.capacity}; unless this environment's own deployment already holds it, "
            "lower AZURE_OPENAI_CHAT_DEPLOYMENT_CAPACITY or request more quota"
        )
    return 0


def run_hook(
    root: Path,
    env: Mapping[str, str],
    today: date,
    now: datetime,
    candidates: Sequence[str] = CANDIDATE_REGIONS,
) -> int:
    """The whole hook; returns the exit code."""
    try:
        choice = read_choice(root, env)
        schedule = retirement.load(root / "infra" / "models.json")
    except (OSError, ValueError, KeyError) as error:
        print(f"{PREFIX} {error}", file=sys.stderr)
        return 1
    if choice.existing_account:
        print(
            f"{PREFIX} using the existing account {choice.existing_account}: no deployment is created; checks skipped"
        )
        return 0
    if check_retirement(choice, schedule, today):
        return 1
    az = shutil.which("az", path=env.get("PATH"))
    if az is None:
        print(f"{PREFIX} az is not on PATH: region check skipped (azd itself does not need it)")
        return 0
    run = az_runner(az, env)
    if az_json(run, ["account", "show"]) is None:
        print(f"{PREFIX} az is not signed in (`az login`): region check skipped")
        return 0
    if not choice.location:
        print(f"{PREFIX} no region chosen yet (AZURE_LOCATION): region check skipped")
        return 0
    return check_region(choice, run, now, candidates)


def main() -> int:
    return run_hook(REPO_ROOT, os.environ, date.today(), datetime.now(timezone.utc))  # noqa: UP017


if __name__ == "__main__":
    sys.exit(main())
