"""azure.yaml, main.parameters.json and the web/config.json hook agree with main.bicep."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.infra.bicep import INFRA, REPO_ROOT, load

sys.path.insert(0, str(INFRA / "hooks"))
import web_config

MAIN = load(INFRA / "main.bicep")
AZURE_YAML = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text())
PARAMETERS = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]


def test_services():
    assert AZURE_YAML["services"] == {
        "api": {"project": ".", "language": "python", "host": "function"},
        "web": {"project": "web", "language": "js", "host": "staticwebapp", "dist": "."},
    }
    assert AZURE_YAML["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}


def test_hooks_run_the_web_config_script_on_every_platform():
    for event, action in (("predeploy", "write"), ("postdeploy", "restore")):
        hook = AZURE_YAML["hooks"][event]
        assert hook["posix"]["run"] == f"python3 infra/hooks/web_config.py {action}"
        assert hook["windows"]["run"] == f"python infra/hooks/web_config.py {action}"
    assert (INFRA / "hooks" / "web_config.py").is_file()


def test_parameter_file_names_real_parameters_with_azd_substitutions():
    assert set(PARAMETERS) <= set(MAIN.params)
    required = {name for name, param in MAIN.params.items() if not param.has_default}
    assert required <= set(PARAMETERS), "azd would prompt for these"
    assert PARAMETERS["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert PARAMETERS["location"]["value"] == "${AZURE_LOCATION}"
    assert PARAMETERS["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"


def test_parameter_file_only_forwards_environment_values():
    # An unset or empty variable makes azd use the Bicep default, so defaults live in main.bicep
    # only (azure-dev PR #2896); a literal or `${VAR=default}` here would be a second copy.
    for name, entry in PARAMETERS.items():
        assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", entry["value"]), name


def test_hook_reads_outputs_that_main_bicep_has():
    source = (INFRA / "hooks" / "web_config.py").read_text()
    for name in set(re.findall(r"WEB_CONFIG_[A-Z_]+", source)):
        assert name in MAIN.outputs


@pytest.mark.parametrize(
    ("env", "config"),
    [
        (
            {"WEB_CONFIG_API_BASE": "https://func-api-abc.azurewebsites.net", "WEB_CONFIG_FRAMING": "ndjson"},
            {"apiBase": "https://func-api-abc.azurewebsites.net", "framing": "ndjson"},
        ),
        ({"WEB_CONFIG_API_BASE": "", "WEB_CONFIG_FRAMING": "sse"}, {"apiBase": "", "framing": "sse"}),
        ({"WEB_CONFIG_FRAMING": "sse"}, {"apiBase": "", "framing": "sse"}),
        ({"WEB_CONFIG_API_BASE": "https://x.example/", "WEB_CONFIG_FRAMING": " ndjson "}, None),
    ],
)
def test_config_for_each_access_mode(env, config):
    expected = config or {"apiBase": "https://x.example", "framing": "ndjson"}
    assert web_config.build_config(env) == expected


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WEB_CONFIG_FRAMING": "json"},
        {"WEB_CONFIG_FRAMING": "sse", "WEB_CONFIG_API_BASE": "http://insecure.example"},
    ],
)
def test_bad_values_are_refused(env):
    with pytest.raises(ValueError, match="WEB_CONFIG_"):
        web_config.build_config(env)


ENV = {"AZURE_ENV_NAME": "dev", "WEB_CONFIG_API_BASE": "https://api.example", "WEB_CONFIG_FRAMING": "ndjson"}


def test_write_then_restore_puts_the_developer_file_back(tmp_path: Path):
    original = '{"apiBase": "http://localhost:7071", "framing": "ndjson"}\n'
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "config.json").write_text(original)
    web_config.write(tmp_path, ENV)
    assert json.loads((tmp_path / "web" / "config.json").read_text()) == {
        "apiBase": "https://api.example",
        "framing": "ndjson",
    }
    web_config.write(tmp_path, ENV)  # a second deploy after a failed one keeps the first backup
    web_config.restore(tmp_path, ENV)
    assert (tmp_path / "web" / "config.json").read_text() == original
    assert not (tmp_path / ".azure" / "dev" / "web-config.backup.json").exists()


def test_restore_removes_a_file_that_was_not_there(tmp_path: Path):
    web_config.write(tmp_path, ENV)
    assert (tmp_path / "web" / "config.json").exists()
    web_config.restore(tmp_path, ENV)
    assert not (tmp_path / "web" / "config.json").exists()
    web_config.restore(tmp_path, ENV)  # nothing to do is fine


def test_command_line_exit_codes():
    script = str(INFRA / "hooks" / "web_config.py")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WEB_CONFIG_")}
    run = subprocess.run([sys.executable, script, "write"], env=clean, capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "azd provision" in run.stderr
    usage = subprocess.run([sys.executable, script], capture_output=True, text=True, check=False)
    assert usage.returncode == 2
