"""What the templates must say: keyless access, the Flex settings streaming needs, CORS, pinning."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.infra.bicep import INFRA, Expr, Ref, load, templates, walk_values

MAIN = load(INFRA / "main.bicep")
API = load(INFRA / "app" / "api.bicep")
RBAC = load(INFRA / "app" / "rbac.bicep")
OPENAI_ACCESS = load(INFRA / "app" / "openai-access.bicep")
BUDGET = load(INFRA / "app" / "budget.bicep")

OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"

# The app reads exactly these names (chat/settings.py); AZURE_OPENAI_API_KEY must never be set in Azure.
APP_SETTING_NAMES = {
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_CHAT_DEPLOYMENT",
    "AZURE_OPENAI_CHAT_MODEL",
    "CHAT_UPSTREAM_API",
    "CHAT_MAX_OUTPUT_TOKENS",
    "CHAT_REASONING_EFFORT",
    "CHAT_REASONING_SUMMARY",
    "AZURE_CLIENT_ID",
    "CHAT_SYSTEM_PROMPT",
    "CHAT_HEARTBEAT_SECONDS",
    "ALLOWED_ORIGINS",
    "CHAT_MAX_CONCURRENT_STREAMS",
    "CHAT_RESUME",
    "CHAT_REDIS_URL",
    "CHAT_REDIS_AUTH",
}


def function_app():
    return API.resources["functionApp"]


def app_settings() -> dict:
    """Settings from main.bicep's `appSettings` param plus api.bicep's platform settings."""
    settings = dict(MAIN.modules["api"].body["params"]["appSettings"])
    settings.update(API.variables["platformSettings"])
    return settings


def role_assignments():
    for template in templates():
        for resource in template.resources.values():
            if resource.type == "Microsoft.Authorization/roleAssignments":
                yield template, resource


def role_ids_in(template) -> dict[str, str]:
    """Role definition guid for each roleAssignment symbol, following `var name = '<guid>'`."""
    found = {}
    for symbol, resource in template.resources.items():
        if resource.type != "Microsoft.Authorization/roleAssignments":
            continue
        role = resource.body["properties"]["roleDefinitionId"]
        assert isinstance(role, Expr), f"{symbol}: roleDefinitionId should be built with subscriptionResourceId()"
        variable = re.search(r"roleDefinitions',\s*(\w+)\)", role.text)
        assert variable, role.text
        found[symbol] = template.variables[variable[1]]
    return found


# ---- Azure OpenAI ------------------------------------------------------------------------------


def test_new_openai_account_has_local_auth_off_and_a_custom_subdomain():
    params = MAIN.modules["openAi"].body["params"]
    assert params["kind"] == "OpenAI"
    assert params["disableLocalAuth"] is True
    # Entra tokens are only accepted on the custom-subdomain endpoint.
    assert params["customSubDomainName"] == Ref("openAiName")


def test_chat_deployment_model_sku_and_capacity_are_parameters():
    (deployment,) = MAIN.modules["openAi"].body["params"]["deployments"]
    assert deployment["name"] == Ref("chatDeploymentName")
    assert deployment["model"] == {
        "format": "OpenAI",
        "name": Ref("chatModelName"),
        "version": Ref("chatModelVersion"),
    }
    assert deployment["sku"] == {"name": Ref("chatDeploymentSku"), "capacity": Ref("chatDeploymentCapacity")}
    for name in ("chatModelName", "chatModelVersion", "chatDeploymentSku", "chatDeploymentCapacity"):
        assert MAIN.params[name].has_default
    # Azure refuses to change a deployment's model, so a new model must mean a new deployment name.
    assert MAIN.params["chatDeploymentName"].default == Ref("chatModelName")


def test_the_app_is_told_the_model_it_calls():
    settings = app_settings()
    assert settings["AZURE_OPENAI_CHAT_DEPLOYMENT"] == Ref("chatDeploymentName")
    assert settings["AZURE_OPENAI_CHAT_MODEL"] == Ref("chatModelName")
    assert MAIN.outputs["AZURE_OPENAI_CHAT_MODEL"] == Ref("chatModelName")


# Parameter -> (app setting, the app's default in chat/settings.py, allowed values or None for a number).
CHAT_SETTINGS = {
    "chatUpstreamApi": ("CHAT_UPSTREAM_API", "responses", ["responses", "chat_completions"]),
    "chatMaxOutputTokens": ("CHAT_MAX_OUTPUT_TOKENS", 4096, None),
    "chatReasoningEffort": (
        "CHAT_REASONING_EFFORT",
        "low",
        ["default", "none", "minimal", "low", "medium", "high", "xhigh"],
    ),
    "chatReasoningSummary": ("CHAT_REASONING_SUMMARY", "auto", ["auto", "detailed", "off"]),
}


@pytest.mark.parametrize("param", CHAT_SETTINGS)
def test_chat_settings_pass_through_with_the_app_defaults(param: str):
    setting, default, allowed = CHAT_SETTINGS[param]
    declared = MAIN.params[param]
    assert declared.default == default
    if allowed is None:
        assert app_settings()[setting] == Expr("call_expression", f"string({param})")
        assert declared.decorators["minValue"] == "16"  # the app's own minimum
    else:
        assert app_settings()[setting] == Ref(param)
        assert re.findall(r"'([^']*)'", declared.decorators["allowed"]) == allowed


def test_the_v1_api_takes_no_api_version():
    # The app calls {AZURE_OPENAI_ENDPOINT}/openai/v1/; nothing in the infra may set an API version for it.
    for path in [*INFRA.rglob("*.bicep"), INFRA / "main.parameters.json", *INFRA.rglob("*.py")]:
        text = path.read_text()
        for banned in ("AZURE_OPENAI_API_VERSION", "openAiApiVersion", "api-version"):
            assert banned not in text, f"{path.name} mentions {banned}"


def test_an_existing_openai_account_replaces_the_new_one():
    assert MAIN.modules["openAi"].body and MAIN.modules["openAi"].conditional
    assert MAIN.modules["existingOpenAi"].conditional
    for name in ("existingOpenAiName", "existingOpenAiResourceGroup", "existingOpenAiEndpoint"):
        assert MAIN.params[name].default == ""
    assert "useExistingOpenAi ? existingOpenAiResourceGroup" in MAIN.text


def test_app_identity_gets_openai_user_on_the_account_and_the_developer_optionally():
    roles = role_ids_in(OPENAI_ACCESS)
    assert roles == {"appCanCall": OPENAI_USER, "developerCanCall": OPENAI_USER}
    app, developer = OPENAI_ACCESS.resources["appCanCall"], OPENAI_ACCESS.resources["developerCanCall"]
    assert app.body["scope"] == Ref("openAi") and developer.body["scope"] == Ref("openAi")
    assert app.body["properties"]["principalType"] == "ServicePrincipal"
    assert not app.conditional and developer.conditional
    params = MAIN.modules["openAiAccess"].body["params"]
    assert params["identityPrincipalId"] == Ref("identity.outputs.principalId")
    assert params["userPrincipalId"] == Ref("principalId")


# ---- Monitoring --------------------------------------------------------------------------------


def test_app_insights_takes_only_entra_authenticated_telemetry():
    assert MAIN.modules["appInsights"].body["params"]["disableLocalAuth"] is True
    settings = app_settings()
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == Expr(
        "interpolation", "'ClientId=${identityClientId};Authorization=AAD'"
    )
    assert role_ids_in(RBAC)["metricsPublisher"] == MONITORING_METRICS_PUBLISHER
    assert RBAC.resources["metricsPublisher"].body["scope"] == Ref("appInsights")


# ---- Storage -----------------------------------------------------------------------------------


def test_storage_has_no_keys_and_no_public_blobs():
    params = MAIN.modules["storage"].body["params"]
    assert params["allowSharedKeyAccess"] is False
    assert params["allowBlobPublicAccess"] is False
    assert params["minimumTlsVersion"] == "TLS1_2"
    assert params["supportsHttpsTrafficOnly"] is True
    assert params["defaultToOAuthAuthentication"] is True
    (container,) = params["blobServices"]["containers"]
    assert container == {"name": Ref("deploymentContainerName"), "publicAccess": "None"}


def test_host_storage_is_reached_over_the_managed_identity():
    settings = app_settings()
    assert settings["AzureWebJobsStorage__accountName"] == Ref("storageAccountName")
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == Ref("identityClientId")
    assert "AzureWebJobsStorage" not in settings


def test_storage_roles_are_blob_data_owner_only():
    assert role_ids_in(RBAC) == {"blobOwner": STORAGE_BLOB_DATA_OWNER, "metricsPublisher": MONITORING_METRICS_PUBLISHER}
    assert RBAC.resources["blobOwner"].body["scope"] == Ref("storage")


def test_deployment_package_is_pulled_with_the_user_assigned_identity():
    storage = function_app().body["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": Ref("identityId"),
    }


# ---- Function app ------------------------------------------------------------------------------


def test_function_app_runs_python_3_13_on_flex_consumption():
    runtime = function_app().body["properties"]["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": Ref("pythonVersion")}
    assert API.variables["pythonVersion"] == "3.13"
    assert function_app().body["kind"] == "functionapp,linux"
    plan = MAIN.modules["plan"].body["params"]
    assert plan["skuName"] == "FC1" and plan["reserved"] is True


def test_per_instance_concurrency_is_set_from_one_parameter():
    scale = function_app().body["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["triggers"]["http"]["perInstanceConcurrency"] == Ref("httpPerInstanceConcurrency")
    assert MAIN.modules["api"].body["params"]["httpPerInstanceConcurrency"] == Ref("httpPerInstanceConcurrency")
    param = MAIN.params["httpPerInstanceConcurrency"]
    assert param.default == 50
    # The number lives in this one default; the stream cap follows it rather than repeating it.
    assert app_settings()["CHAT_MAX_CONCURRENT_STREAMS"] == Expr(
        "call_expression", "string(httpPerInstanceConcurrency * 2)"
    )
    assert "benchmarks/RESULTS.md" in MAIN.text


def test_no_init_indexing_setting_on_3_13():
    # Python 3.13+ indexes at start-up by default; the setting only mattered for HTTP streaming on <= 3.12.
    assert "PYTHON_ENABLE_INIT_INDEXING" not in app_settings()


def test_app_settings_are_the_ones_the_app_reads_and_keyless():
    settings = app_settings()
    assert set(settings) >= APP_SETTING_NAMES
    assert settings["AZURE_CLIENT_ID"] == Ref("identityClientId")
    assert not any("KEY" in name for name in settings), "no API keys in Azure: the app uses its identity"
    # Flex Consumption rejects these; the runtime comes from functionAppConfig.
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"} & set(settings)


def test_app_settings_reach_the_site():
    site_config = function_app().body["properties"]["siteConfig"]
    assert site_config["appSettings"] == Expr(
        "for_statement", "[for setting in items(allSettings): { name: setting.key, value: setting.value }]"
    )
    assert API.variables["allSettings"] == Expr("call_expression", "union(appSettings, platformSettings)")


def test_site_is_https_only_with_tls_1_2_and_no_ftp_or_basic_auth():
    properties = function_app().body["properties"]
    assert properties["httpsOnly"] is True
    site_config = properties["siteConfig"]
    assert site_config["minTlsVersion"] == "1.2"
    assert site_config["scmMinTlsVersion"] == "1.2"
    assert site_config["ftpsState"] == "Disabled"
    policies = {
        resource.body["name"]: resource.body["properties"]["allow"]
        for resource in API.resources.values()
        if resource.type == "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    }
    assert policies == {"ftp": False, "scm": False}


def test_function_app_runs_as_the_user_assigned_identity():
    assert function_app().body["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentities": {"${identityId}": {}},
    }
    params = MAIN.modules["api"].body["params"]
    assert params["identityId"] == Ref("identity.outputs.resourceId")
    assert params["identityClientId"] == Ref("identity.outputs.clientId")


# ---- Static Web App, CORS and who may call ---------------------------------------------------------


def test_cors_admits_exactly_the_static_web_app_origin_and_the_extra_origins():
    cors = function_app().body["properties"]["siteConfig"]["cors"]
    assert cors == {"allowedOrigins": Ref("allowedOrigins"), "supportCredentials": False}
    assert MAIN.modules["api"].body["params"]["allowedOrigins"] == Ref("allowedOrigins")
    assert MAIN.variables["webOrigin"] == Expr("interpolation", "'https://${web.outputs.defaultHostname}'")
    assert MAIN.variables["allowedOrigins"] == Expr("call_expression", "union([ webOrigin ], extraAllowedOrigins)")
    assert MAIN.params["extraAllowedOrigins"].type == "array"
    assert MAIN.params["extraAllowedOrigins"].default == []
    assert app_settings()["ALLOWED_ORIGINS"] == Expr("call_expression", "join(allowedOrigins, ',')")


def test_access_mode_parameter_and_what_each_mode_deploys():
    access = MAIN.params["apiAccess"]
    assert access.decorators["allowed"].replace(" ", "") == "['direct','linked']"
    assert access.default == "direct"
    web = MAIN.modules["web"].body["params"]
    assert web["sku"] == Expr("ternary_expression", "linked ? 'Standard' : 'Free'")
    backend = MAIN.modules["webBackend"]
    assert backend.conditional and "if (linked)" in MAIN.text
    assert backend.body["params"]["backendResourceId"] == Ref("api.outputs.id")


def test_web_config_outputs_match_the_access_mode():
    assert MAIN.outputs["WEB_CONFIG_API_BASE"] == Expr("ternary_expression", "linked ? '' : apiOrigin")
    assert MAIN.outputs["WEB_CONFIG_FRAMING"] == Expr("ternary_expression", "linked ? 'sse' : 'ndjson'")


def test_outputs_azd_needs():
    expected = {
        "AZURE_LOCATION",
        "AZURE_TENANT_ID",
        "AZURE_RESOURCE_GROUP",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_CHAT_DEPLOYMENT",
        "AZURE_OPENAI_CHAT_MODEL",
        "API_URL",
        "SERVICE_API_URI",
        "WEB_URL",
        "SERVICE_WEB_URI",
    }
    assert expected <= set(MAIN.outputs)


# ---- Cost alert ------------------------------------------------------------------------------------


def test_the_budget_is_off_by_default_and_scoped_to_the_resource_group():
    assert MAIN.params["budgetAmount"].default == 0
    assert MAIN.params["budgetAmount"].decorators["minValue"] == "0"
    assert MAIN.params["budgetContactEmail"].default == ""
    module = MAIN.modules["budget"]
    assert module.conditional and "module budget 'app/budget.bicep' = if (budgetAmount > 0) {" in MAIN.text
    assert module.body["scope"] == Ref("rg")
    params = module.body["params"]
    assert params["amount"] == Ref("budgetAmount")
    assert params["startDate"] == Ref("budgetStartDate")
    assert params["contactEmails"] == Expr(
        "ternary_expression", "empty(budgetContactEmail) ? [] : [ budgetContactEmail ]"
    )


def test_the_budget_is_a_monthly_cost_budget_whose_alerts_reach_someone():
    (budget,) = BUDGET.resources.values()
    assert budget.type == "Microsoft.Consumption/budgets"
    assert "scope" not in budget.body  # an extension of the resource group it is deployed into
    properties = budget.body["properties"]
    assert (properties["category"], properties["timeGrain"]) == ("Cost", "Monthly")
    assert properties["amount"] == Ref("amount")
    assert properties["timePeriod"] == {"startDate": Ref("startDate")}
    alerts = properties["notifications"].values()
    assert {(a["thresholdType"], a["threshold"]) for a in alerts} == {
        ("Actual", 80),
        ("Actual", 100),
        ("Forecasted", 100),
    }
    for alert in alerts:
        assert alert["enabled"] is True
        # Owners as well as the optional address: with no e-mail given the alert still goes somewhere.
        assert (alert["contactEmails"], alert["contactRoles"]) == (Ref("contactEmails"), ["Owner"])


def test_the_budget_keeps_its_first_start_date():
    # Azure refuses to change a budget's start date, so the first month is written back to the azd
    # environment (an output) and read from there (main.parameters.json) on every later provision.
    assert MAIN.params["budgetStartDate"].default == Expr("call_expression", "utcNow('yyyy-MM-01')")
    assert MAIN.outputs["AZURE_BUDGET_START_DATE"] == Expr(
        "ternary_expression", "budgetAmount > 0 ? budgetStartDate : ''"
    )


# ---- Tags and names ----------------------------------------------------------------------------


def test_azd_tags():
    assert MAIN.variables["tags"] == {"azd-env-name": Ref("environmentName")}
    assert MAIN.modules["api"].body["params"]["tags"] == Expr(
        "call_expression", "union(tags, { 'azd-service-name': 'api' })"
    )
    assert MAIN.modules["web"].body["params"]["tags"] == Expr(
        "call_expression", "union(tags, { 'azd-service-name': 'web' })"
    )
    for symbol, module in MAIN.modules.items():
        if module.source.startswith("br/public:"):
            assert "tags" in module.body["params"], f"{symbol} is untagged"


def test_names_come_from_the_resource_token():
    assert MAIN.variables["resourceToken"] == Expr(
        "call_expression", "toLower(uniqueString(subscription().id, environmentName, location))"
    )
    for symbol, module in MAIN.modules.items():
        name = module.body.get("params", {}).get("name")
        if isinstance(name, Ref) and name.text in MAIN.variables:
            name = MAIN.variables[name.text]
        if module.source.startswith("br/public:"):
            assert isinstance(name, Expr) and "${resourceToken}" in name.text, symbol


# ---- Things that must appear nowhere ---------------------------------------------------------------


@pytest.mark.parametrize("template", templates(), ids=lambda t: t.name)
def test_no_keys_or_key_based_connection_strings(template):
    text = template.text
    assert "listKeys(" not in text
    assert "listkeys(" not in text.lower()
    assert "AccountKey=" not in text
    assert "listSecrets(" not in text
    assert "AZURE_OPENAI_API_KEY" not in text


@pytest.mark.parametrize("template", templates(), ids=lambda t: t.name)
def test_no_literal_secret_like_values(template):
    for path, leaf in walk_values({**template.variables, **{k: r.body for k, r in template.resources.items()}}):
        if isinstance(leaf, str):
            assert not re.search(r"(?i)(password|secret|sig=|sharedaccesskey)", leaf), path


# ---- Pinning -----------------------------------------------------------------------------------

AVM = re.compile(r"^br/public:avm/(res|ptn|utl)/[a-z0-9-]+(/[a-z0-9-]+)+:(\d+)\.(\d+)\.(\d+)$")
API_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview)?$")
# Preview API versions we accept, each with the reason. Empty: everything here is GA.
PREVIEW_ALLOWED: dict[str, str] = {}


@pytest.mark.parametrize("template", templates(), ids=lambda t: t.name)
def test_every_module_is_local_or_a_pinned_registry_version(template):
    for symbol, module in template.modules.items():
        if module.source.startswith("br"):
            assert AVM.match(module.source), f"{symbol}: {module.source} is not an exact AVM version"
        else:
            assert (template.path.parent / module.source).is_file(), f"{symbol}: {module.source} not found"


@pytest.mark.parametrize("template", templates(), ids=lambda t: t.name)
def test_every_resource_pins_a_ga_api_version(template):
    for symbol, resource in template.resources.items():
        match = API_VERSION.match(resource.api_version)
        assert match, f"{symbol}: {resource.type}@{resource.api_version!r} is not a pinned API version"
        assert date(int(match[1]), int(match[2]), int(match[3])) <= date.today()
        if match[4]:
            assert resource.type in PREVIEW_ALLOWED, f"{symbol}: preview API version without a reason"


def test_no_resource_group_wide_role_assignments():
    for template, resource in role_assignments():
        assert "scope" in resource.body, f"{template.name}:{resource.symbol} has no resource scope"
        principal = resource.body["properties"]["principalId"]
        assert isinstance(principal, Ref), f"{template.name}:{resource.symbol}"
