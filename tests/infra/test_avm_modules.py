"""Parameters passed to Azure Verified Modules, and outputs read from them, exist at the pinned version.

The registry is out of reach offline and the Bicep CLI (which checks this at build time) is not
installed here, so this test reads each module's main.bicep from a local git copy of
Azure/bicep-registry-modules, at the tag AVM publishes for that version (`avm/res/x/y/1.2.3`).
Set AVM_REPO to that git directory to run it; without it the test is skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, load

AVM_REPO = os.environ.get("AVM_REPO", "")
MAIN = load(INFRA / "main.bicep")
REGISTRY_MODULES = {s: m for s, m in MAIN.modules.items() if m.source.startswith("br/public:")}

pytestmark = pytest.mark.skipif(not AVM_REPO, reason="set AVM_REPO to a git copy of Azure/bicep-registry-modules")

PARAM = re.compile(r"^param\s+(?P<name>\w+)\s+(?P<type>.+?)(?P<default>\s*=.*)?$")
OUTPUT = re.compile(r"^output\s+(?P<name>\w+)\s")


def module_source(source: str) -> str:
    path, version = source.removeprefix("br/public:").rsplit(":", 1)
    completed = subprocess.run(
        ["git", "--git-dir", str(Path(AVM_REPO)), "show", f"{path}/{version}:{path}/main.bicep"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, f"{source}: {completed.stderr.strip()}"
    return completed.stdout


@pytest.mark.parametrize("symbol", sorted(REGISTRY_MODULES))
def test_params_exist_and_required_ones_are_given(symbol: str):
    module = REGISTRY_MODULES[symbol]
    declared, required = set(), set()
    outputs = set()
    for line in module_source(module.source).splitlines():
        if match := PARAM.match(line):
            declared.add(match["name"])
            if not match["default"] and not match["type"].rstrip().endswith("?"):
                required.add(match["name"])
        elif match := OUTPUT.match(line):
            outputs.add(match["name"])
    given = set(module.body["params"])
    assert given - declared == set(), f"{module.source} has no such params"
    assert required - given == set(), f"{module.source} requires these"
    used = set(re.findall(rf"\b{symbol}\.outputs\.(\w+)", MAIN.text))
    assert used - outputs == set(), f"{module.source} has no such outputs"
