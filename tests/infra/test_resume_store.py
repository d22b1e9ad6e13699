"""resumeStore: 'redis' provisions keyless Azure Managed Redis and points the app at it; 'off' and 'memory' do not.

Without the Bicep CLI the templates are evaluated here for each value of the parameter (tests/infra/
bicep.py `evaluate`): which modules deploy, which app settings the function app gets. Those settings
are then read by the app's own settings parser, so the infra and chat/settings.py cannot drift apart.
Property values are checked against the enums of azure-mgmt-redisenterprise, whose REST models
describe the same API version the template pins.
"""

from __future__ import annotations

import json
import re

import pytest
from azure.mgmt.redisenterprise import _configuration as redis_api
from azure.mgmt.redisenterprise import models as redis_models

from chat.settings import Settings
from tests.infra import arm_models
from tests.infra.bicep import INFRA, Expr, Ref, evaluate, load

MAIN = load(INFRA / "main.bicep")
REDIS = load(INFRA / "app" / "redis.bicep")
PARAMETERS = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
MODES = ("off", "memory", "redis")
URL = Ref("redis.outputs.url")


def app_settings(mode: str) -> dict:
    return evaluate(MAIN.modules["api"].body["params"]["appSettings"], MAIN, {"resumeStore": mode})


def test_the_parameter_is_off_by_default_and_set_from_the_azd_environment():
    param = MAIN.params["resumeStore"]
    assert param.default == "off"
    assert re.findall(r"'([^']*)'", param.decorators["allowed"]) == list(MODES)
    assert PARAMETERS["resumeStore"]["value"] == "${CHAT_RESUME}"


@pytest.mark.parametrize("mode", MODES)
def test_only_redis_provisions_the_cache_and_its_output(mode: str):
    module = MAIN.modules["redis"]
    assert module.source == "app/redis.bicep" and module.body["scope"] == Ref("rg")
    assert evaluate(module.condition, MAIN, {"resumeStore": mode}) is (mode == "redis")
    assert evaluate(MAIN.outputs["CHAT_REDIS_URL"], MAIN, {"resumeStore": mode}) == (URL if mode == "redis" else "")


@pytest.mark.parametrize("mode", MODES)
def test_the_app_settings_follow_the_mode(mode: str):
    settings = app_settings(mode)
    resume = {name: settings[name] for name in ("CHAT_RESUME", "CHAT_REDIS_URL", "CHAT_REDIS_AUTH")}
    if mode == "redis":
        assert resume == {"CHAT_RESUME": "redis", "CHAT_REDIS_URL": URL, "CHAT_REDIS_AUTH": "entra"}
    else:
        assert resume == {"CHAT_RESUME": mode, "CHAT_REDIS_URL": "", "CHAT_REDIS_AUTH": ""}


@pytest.mark.parametrize("mode", MODES)
def test_the_app_reads_those_settings_as_meant(mode: str):
    """Through chat/settings.py, with the URL the module outputs for a cache named like Azure's."""
    settings = {k: v for k, v in app_settings(mode).items() if isinstance(v, str)}
    if mode == "redis":
        settings["CHAT_REDIS_URL"] = redis_url("redis-abc123.westeurope.redis.azure.net")
    read = Settings.from_env({**settings, "AZURE_OPENAI_CHAT_MODEL": "gpt-5.4-mini"})
    assert read.resume == mode
    assert (read.redis_url, read.redis_auth) == (
        ("rediss://redis-abc123.westeurope.redis.azure.net:10000", "entra") if mode == "redis" else ("", "url")
    )


def redis_url(host_name: str) -> str:
    """The module's `url` output, for a given host name and the database's own port."""
    output = REDIS.outputs["url"]
    assert output == Expr("interpolation", "'rediss://${cache.properties.hostName}:${database.properties.port}'")
    port = REDIS.resources["database"].body["properties"]["port"]
    return f"rediss://{host_name}:{port}"


def test_the_module_gets_the_app_identity_and_the_developer():
    params = MAIN.modules["redis"].body["params"]
    assert params["identityPrincipalId"] == Ref("identity.outputs.principalId")
    assert params["userPrincipalId"] == Ref("principalId")
    assert params["name"] == Expr("interpolation", "'redis-${resourceToken}'")
    assert params["tags"] == Ref("tags")


# ---- The cache: Azure Managed Redis, TLS only, no access keys ----------------------------------------


def test_it_is_azure_managed_redis_at_the_api_version_the_property_check_uses():
    sdk = redis_api.RedisEnterpriseManagementClientConfiguration(credential=object(), subscription_id="x")
    for resource in REDIS.resources.values():
        assert resource.type.startswith("Microsoft.Cache/redisEnterprise")
        assert resource.api_version == sdk.api_version == "2025-07-01"


def test_the_cache_is_the_smallest_balanced_sku_with_tls_1_2():
    cache = REDIS.resources["cache"].body
    assert cache["sku"] == {"name": Ref("skuName")}
    assert REDIS.params["skuName"].default == "Balanced_B0"
    assert "Balanced_B0" in {sku.value for sku in redis_models.SkuName}
    assert cache["properties"]["minimumTlsVersion"] == "1.2"
    assert cache["properties"]["highAvailability"] in {v.value for v in redis_models.HighAvailability}


def test_the_database_takes_entra_id_over_tls_only_on_port_10000():
    properties = REDIS.resources["database"].body["properties"]
    assert properties["accessKeysAuthentication"] == redis_models.AccessKeysAuthentication.DISABLED.value
    assert properties["clientProtocol"] == redis_models.Protocol.ENCRYPTED.value
    assert properties["port"] == 10000
    # The app's client (redis.asyncio.Redis) is not cluster-aware; OSSCluster would need one.
    assert properties["clusteringPolicy"] == redis_models.ClusteringPolicy.ENTERPRISE_CLUSTER.value
    # Every key the store writes has a TTL (chat/resume/redis_store.py), so volatile eviction covers them all.
    assert properties["evictionPolicy"] == redis_models.EvictionPolicy.VOLATILE_LRU.value
    assert REDIS.resources["database"].body["name"] == "default"


def test_the_app_identity_gets_the_default_access_policy_and_the_developer_optionally():
    app, developer = REDIS.resources["appCanUse"], REDIS.resources["developerCanUse"]
    assert not app.conditional
    assert developer.condition == Expr("unary_expression", "!empty(userPrincipalId)")
    for resource, principal in ((app, "identityPrincipalId"), (developer, "userPrincipalId")):
        assert resource.body["parent"] == Ref("database")
        assert resource.body["properties"] == {"accessPolicyName": "default", "user": {"objectId": Ref(principal)}}
        # An assignment's name takes letters and digits only (1 to 60): the object id without dashes.
        assert resource.body["name"] == Expr("call_expression", f"replace({principal}, '-', '')")
    assert developer.body["dependsOn"] == [Ref("appCanUse")]


def test_a_misspelt_redis_property_is_reported():
    body = dict(REDIS.resources["database"].body)
    body["properties"] = {**body["properties"], "accessKeyAuthentication": "Disabled"}
    cls = arm_models.model("azure.mgmt.redisenterprise.models", "Database")
    assert arm_models.unknown_resource_properties(body, cls) == ["properties.accessKeyAuthentication"]


def test_no_key_or_password_reaches_the_app():
    settings = app_settings("redis")
    assert not {name for name in settings if re.search("(?i)key|password|secret", name)}
    assert "listKeys" not in REDIS.text and "primaryKey" not in REDIS.text
