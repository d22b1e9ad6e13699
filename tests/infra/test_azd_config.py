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
        "web": {"project": "web", "language": "js", "host": "staticwebapp", "dist": "dist"},
    }
    assert AZURE_YAML["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}


def test_hooks_run_the_scripts_on_every_platform():
    for event, command in (
        ("preprovision", "infra/hooks/preprovision.py"),
        ("predeploy", "infra/hooks/web_config.py write"),
        ("postdeploy", "infra/hooks/web_config.py restore"),
    ):
        hook = AZURE_YAML["hooks"][event]
        assert hook["posix"] == {"shell": "sh", "run": f"python3 {command}"}
        assert hook["windows"] == {"shell": "pwsh", "run": f"python {command}"}
        assert (REPO_ROOT / command.split()[0]).is_file()
    assert set(AZURE_YAML["hooks"]) == {"preprovision", "predeploy", "postdeploy"}


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


# azd writes every output into the environment (.azure/<env>/.env), so an output named like a parameter's
# variable feeds its first value back into every later provision: a new default in main.bicep would
# never reach an existing environment. Only these are meant to stick.
STICKY = {
    "AZURE_LOCATION": "azd's own: the region chosen at the first provision",
    "AZURE_BUDGET_START_DATE": "Azure refuses to change a budget's start date",
    "API_ACCESS": "an environment keeps its access mode until `azd env set API_ACCESS` changes it",
}


def test_no_output_feeds_back_into_a_parameter_except_on_purpose():
    variables = {entry["value"][2:-1]: name for name, entry in PARAMETERS.items()}
    assert {variable for variable in variables if variable in MAIN.outputs} == set(STICKY)


def test_the_model_and_deployment_name_follow_the_defaults_in_existing_environments():
    # The names the app reads (outputs, for local runs) differ from the ones azd passes in.
    assert PARAMETERS["chatModelName"]["value"] == "${AZURE_OPENAI_CHAT_MODEL_NAME}"
    assert PARAMETERS["chatDeploymentName"]["value"] == "${AZURE_OPENAI_CHAT_DEPLOYMENT_NAME}"
    assert {"AZURE_OPENAI_CHAT_MODEL", "AZURE_OPENAI_CHAT_DEPLOYMENT"} <= set(MAIN.outputs)
    assert PARAMETERS["budgetStartDate"]["value"] == "${AZURE_BUDGET_START_DATE}"


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
        ({"WEB_CONFIG_API_BASE": "https://x.example:8443", "WEB_CONFIG_FRAMING": "sse"}, "port"),
    ],
)
def test_config_for_each_access_mode(env, config):
    if config is None:
        config = {"apiBase": "https://x.example", "framing": "ndjson"}
    elif config == "port":
        config = {"apiBase": "https://x.example:8443", "framing": "sse"}
    assert web_config.build_config(env) == config


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WEB_CONFIG_FRAMING": "json"},
        {"WEB_CONFIG_FRAMING": "sse", "WEB_CONFIG_API_BASE": "http://insecure.example"},
        # Not an origin: each would put something other than the API's origin into connect-src.
        {"WEB_CONFIG_FRAMING": "ndjson", "WEB_CONFIG_API_BASE": "https://x.example/api"},
        {"WEB_CONFIG_FRAMING": "ndjson", "WEB_CONFIG_API_BASE": "https://*.azurewebsites.net"},
        {"WEB_CONFIG_FRAMING": "ndjson", "WEB_CONFIG_API_BASE": "https://x.example; script-src *"},
        {"WEB_CONFIG_FRAMING": "ndjson", "WEB_CONFIG_API_BASE": "https://x.example?q=1"},
    ],
)
def test_bad_values_are_refused(env):
    with pytest.raises(ValueError, match="WEB_CONFIG_"):
        web_config.build_config(env)


ENV = {"AZURE_ENV_NAME": "dev", "WEB_CONFIG_API_BASE": "https://api.example", "WEB_CONFIG_FRAMING": "ndjson"}
LINKED = {"AZURE_ENV_NAME": "dev", "WEB_CONFIG_API_BASE": "", "WEB_CONFIG_FRAMING": "sse"}
CHECKED_IN_SWA = (REPO_ROOT / "web" / "staticwebapp.config.json").read_text()


def directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()}


def site(tmp_path: Path, config: str | None = '{"apiBase": "http://localhost:7071", "framing": "ndjson"}\n') -> Path:
    """A copy of the checked-in web/staticwebapp.config.json, and a developer's web/config.json."""
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "staticwebapp.config.json").write_text(CHECKED_IN_SWA)
    if config is not None:
        (tmp_path / "web" / "config.json").write_text(config)
    return tmp_path


def test_the_checked_in_page_may_connect_to_its_own_origin_only():
    policy = json.loads(CHECKED_IN_SWA)["globalHeaders"]["Content-Security-Policy"]
    assert directives(policy)["connect-src"] == "'self'"


def test_write_puts_the_exact_api_origin_into_connect_src_and_nothing_else(tmp_path: Path):
    site(tmp_path)
    web_config.write(tmp_path, ENV)
    written = json.loads((tmp_path / "web" / "staticwebapp.config.json").read_text())
    before = json.loads(CHECKED_IN_SWA)
    after_policy = directives(written["globalHeaders"].pop("Content-Security-Policy"))
    before_policy = directives(before["globalHeaders"].pop("Content-Security-Policy"))
    assert after_policy.pop("connect-src") == "'self' https://api.example"
    before_policy.pop("connect-src")
    assert after_policy == before_policy  # every other directive untouched
    assert written == before  # every other header, route and setting untouched


def test_linked_mode_keeps_connect_src_to_the_page_itself(tmp_path: Path):
    site(tmp_path)
    web_config.write(tmp_path, LINKED)
    policy = json.loads((tmp_path / "web" / "staticwebapp.config.json").read_text())["globalHeaders"]
    assert directives(policy["Content-Security-Policy"])["connect-src"] == "'self'"


def test_write_then_restore_puts_the_developer_files_back(tmp_path: Path):
    original = '{"apiBase": "http://localhost:7071", "framing": "ndjson"}\n'
    site(tmp_path, original)
    web_config.write(tmp_path, ENV)
    assert json.loads((tmp_path / "web" / "config.json").read_text()) == {
        "apiBase": "https://api.example",
        "framing": "ndjson",
    }
    # A second deploy after a failed one keeps the first backups and writes from the developer's files.
    web_config.write(tmp_path, {**ENV, "WEB_CONFIG_API_BASE": "https://other.example"})
    policy = json.loads((tmp_path / "web" / "staticwebapp.config.json").read_text())["globalHeaders"]
    assert directives(policy["Content-Security-Policy"])["connect-src"] == "'self' https://other.example"
    web_config.restore(tmp_path, ENV)
    assert (tmp_path / "web" / "config.json").read_text() == original
    assert (tmp_path / "web" / "staticwebapp.config.json").read_text() == CHECKED_IN_SWA  # byte for byte
    assert not list((tmp_path / ".azure" / "dev").iterdir())


def test_write_and_restore_also_update_the_built_site(tmp_path: Path):
    """`azd up` builds web/dist (the deployed folder) before it provisions, so the hook writes there too."""
    site(tmp_path)
    dist = tmp_path / "web" / "dist"
    dist.mkdir()
    for name in ("config.json", "staticwebapp.config.json"):
        (dist / name).write_text((tmp_path / "web" / name).read_text())
    web_config.write(tmp_path, ENV)
    for name in ("config.json", "staticwebapp.config.json"):
        assert (dist / name).read_text() == (tmp_path / "web" / name).read_text()
    assert json.loads((dist / "config.json").read_text())["apiBase"] == ENV["WEB_CONFIG_API_BASE"]
    web_config.restore(tmp_path, ENV)
    assert (dist / "staticwebapp.config.json").read_text() == CHECKED_IN_SWA


def test_restore_removes_a_config_that_was_not_there(tmp_path: Path):
    site(tmp_path, config=None)
    web_config.write(tmp_path, ENV)
    assert (tmp_path / "web" / "config.json").exists()
    web_config.restore(tmp_path, ENV)
    assert not (tmp_path / "web" / "config.json").exists()
    assert (tmp_path / "web" / "staticwebapp.config.json").read_text() == CHECKED_IN_SWA
    web_config.restore(tmp_path, ENV)  # nothing to do is fine


@pytest.mark.parametrize(
    ("swa", "message"),
    [
        (None, "staticwebapp.config.json is missing"),
        ("{not json", "not valid JSON"),
        ('{"globalHeaders": {}}', "no globalHeaders"),
        ('{"globalHeaders": {"Content-Security-Policy": "default-src \'self\'"}}', "exactly one connect-src"),
    ],
)
def test_a_page_config_without_a_policy_to_edit_is_refused_before_anything_is_written(tmp_path: Path, swa, message):
    (tmp_path / "web").mkdir()
    if swa is not None:
        (tmp_path / "web" / "staticwebapp.config.json").write_text(swa)
    with pytest.raises(ValueError, match=message):
        web_config.write(tmp_path, ENV)
    assert not (tmp_path / "web" / "config.json").exists()
    assert not (tmp_path / ".azure").exists()


def test_command_line_exit_codes():
    script = str(INFRA / "hooks" / "web_config.py")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WEB_CONFIG_")}
    run = subprocess.run([sys.executable, script, "write"], env=clean, capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "azd provision" in run.stderr
    usage = subprocess.run([sys.executable, script], capture_output=True, text=True, check=False)
    assert usage.returncode == 2
