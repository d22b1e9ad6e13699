"""Resource property names match the Azure REST API models shipped in the azure-mgmt-* packages.

Bicep only warns about an unknown property and ARM often ignores it, so a misspelt
`perInstanceConcurrency` or `allowSharedKeyAccess` would deploy "successfully" and silently do
nothing. The SDK models are generated from the same REST specs as the Bicep types.

Limits: each SDK describes one API version (its newest, e.g. azure-mgmt-web 11 = 2025-05-01) while
a template may pin an older one, so a property added after the pinned version would pass here;
values are not checked, only names.
"""

from __future__ import annotations

import copy

import pytest

from tests.infra import arm_models
from tests.infra.bicep import INFRA, load, templates

# Every resource type the templates use, and the SDK model of its PUT body.
MODELS = {
    "Microsoft.Web/sites": ("azure.mgmt.web.models", "Site"),
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies": (
        "azure.mgmt.web.models",
        "CsmPublishingCredentialsPoliciesEntity",
    ),
    "Microsoft.Web/staticSites": ("azure.mgmt.web.models", "StaticSiteARMResource"),
    "Microsoft.Web/staticSites/linkedBackends": ("azure.mgmt.web.models", "StaticSiteLinkedBackendARMResource"),
    "Microsoft.Storage/storageAccounts": ("azure.mgmt.storage.models", "StorageAccount"),
    "Microsoft.Insights/components": (
        "azure.mgmt.applicationinsights.v2020_02_02.models",
        "ApplicationInsightsComponent",
    ),
    "Microsoft.CognitiveServices/accounts": ("azure.mgmt.cognitiveservices.models", "Account"),
    "Microsoft.Authorization/roleAssignments": (
        "azure.mgmt.authorization.v2022_04_01.models",
        "RoleAssignmentCreateParameters",
    ),
    "Microsoft.Resources/resourceGroups": ("azure.mgmt.resource.resources.models", "ResourceGroup"),
    "Microsoft.Consumption/budgets": ("azure.mgmt.consumption.models", "Budget"),
    "Microsoft.Cache/redisEnterprise": ("azure.mgmt.redisenterprise.models", "Cluster"),
    "Microsoft.Cache/redisEnterprise/databases": ("azure.mgmt.redisenterprise.models", "Database"),
    "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments": (
        "azure.mgmt.redisenterprise.models",
        "AccessPolicyAssignment",
    ),
}


def resources():
    for template in templates():
        for resource in template.resources.values():
            yield pytest.param(template, resource, id=f"{template.name}:{resource.symbol}")


@pytest.mark.parametrize(("template", "resource"), list(resources()))
def test_resource_properties_exist_in_the_rest_model(template, resource):
    assert resource.type in MODELS, f"add a model for {resource.type} to MODELS"
    cls = arm_models.model(*MODELS[resource.type])
    assert arm_models.unknown_resource_properties(resource.body, cls) == []


def test_openai_deployment_model_and_sku_names():
    # The AVM module passes these objects straight to Microsoft.CognitiveServices/accounts/deployments.
    (deployment,) = load(INFRA / "main.bicep").modules["openAi"].body["params"]["deployments"]
    properties = arm_models.model("azure.mgmt.cognitiveservices.models", "DeploymentProperties")
    sku = arm_models.model("azure.mgmt.cognitiveservices.models", "Sku")
    assert arm_models.unknown_properties(deployment["model"], arm_models.fields(properties)["model"], "model") == []
    assert arm_models.unknown_properties(deployment["sku"], sku, "sku") == []


def function_app_body() -> dict:
    return copy.deepcopy(load(INFRA / "app" / "api.bicep").resources["functionApp"].body)


MISSPELLINGS = {
    "top level": (("identiy",), "identiy"),
    "properties": (("properties", "httpOnly"), "properties.httpOnly"),
    "flex scale": (
        ("properties", "functionAppConfig", "scaleAndConcurrency", "triggers", "http", "perInstanceConcurency"),
        "properties.functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurency",
    ),
    "site config": (("properties", "siteConfig", "cors", "allowedOrigin"), "properties.siteConfig.cors.allowedOrigin"),
}


@pytest.mark.parametrize(("keys", "reported"), MISSPELLINGS.values(), ids=MISSPELLINGS.keys())
def test_a_misspelt_property_is_reported(keys, reported):
    body = function_app_body()
    level = body
    for key in keys[:-1]:
        level = level[key]
    level[keys[-1]] = "x"
    cls = arm_models.model(*MODELS["Microsoft.Web/sites"])
    assert arm_models.unknown_resource_properties(body, cls) == [reported]


def test_a_misspelt_msrest_property_is_reported():
    cls = arm_models.model(*MODELS["Microsoft.Insights/components"])
    # Application Insights spells some properties in PascalCase (Application_Type, DisableLocalAuth).
    body = {"name": "appi", "properties": {"Application_Type": "web", "DisableLocalAuth": True, "disableLocalAuths": 1}}
    assert arm_models.unknown_resource_properties(body, cls) == ["properties.disableLocalAuths"]


def test_a_misspelt_budget_alert_property_is_reported():
    body = copy.deepcopy(load(INFRA / "app" / "budget.bicep").resources["budget"].body)
    body["properties"]["notifications"]["actual80"]["thresholdTyp"] = "Actual"
    cls = arm_models.model(*MODELS["Microsoft.Consumption/budgets"])
    assert arm_models.unknown_resource_properties(body, cls) == ["properties.notifications.actual80.thresholdTyp"]
