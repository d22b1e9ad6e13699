// Entry point for `azd up`: one resource group holding the streaming chat API (Flex Consumption
// function app), the web frontend (Static Web App), Azure OpenAI and monitoring. Keyless throughout:
// every data-plane call is made by one user-assigned managed identity.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; seeds the resource token and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region for everything except the Static Web App (and OpenAI, if openAiLocation says otherwise). Must offer Flex Consumption.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the person (or CI principal) running azd; gets the OpenAI User role so `make run` can call the deployed model after `az login`. Leave empty to skip.')
param principalId string = ''

@allowed([ 'User', 'ServicePrincipal' ])
@description('Kind of principal that principalId names.')
param principalType string = 'User'

// ---- Who may call the API --------------------------------------------------------------------
// direct: the browser calls the function app itself; CORS admits the web origin. Free SWA SKU, NDJSON
//   streams unbuffered, no request time cap. The API is publicly callable (CORS binds browsers only).
// linked: the function app is the SWA's linked backend, reached at <web>/api. Needs the Standard SKU;
//   SWA auth can then require sign-in, but SWA buffers NDJSON (the frontend switches to SSE) and caps
//   each API request at 45 s, which cuts long answers off. See docs/deploy.md for the full trade-off.
@allowed([ 'direct', 'linked' ])
@description('How the frontend reaches the API: "direct" (function app + CORS) or "linked" (SWA linked backend at /api).')
param apiAccess string = 'direct'

@description('Origins allowed by CORS besides the Static Web App, e.g. ["http://localhost:4280"] for a local frontend against the deployed API.')
param extraAllowedOrigins array = []

// ---- Function app scale -----------------------------------------------------------------------
// Concurrent HTTP invocations one instance accepts before Flex adds another. The platform default for
// Python is 1, i.e. one instance per open stream; the app is async and I/O-bound, so one instance can
// hold many streams, but not unboundedly: benchmarks/RESULTS.md measured one worker healthy at 100
// streams (50 tokens/s each) and CPU-bound not far above, so 50 leaves room for a slower core and the
// host's own proxy. Change it here only; CHAT_MAX_CONCURRENT_STREAMS follows it.
@minValue(1)
@maxValue(1000)
@description('Flex Consumption HTTP perInstanceConcurrency (streams per instance).')
param httpPerInstanceConcurrency int = 50

@minValue(1)
@maxValue(1000)
@description('Upper bound on Flex Consumption instances; caps cost under load or abuse.')
param maximumInstanceCount int = 40

@allowed([ 512, 2048, 4096 ])
@description('Memory per Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

// ---- Azure OpenAI -------------------------------------------------------------------------------
@description('Region of a new Azure OpenAI account; defaults to location. Pick one with quota for the model.')
param openAiLocation string = location

// The default is a GA model with months left before retirement (infra/models.json; tests/infra fails 30
// days before the date, and the preprovision hook refuses a retired one). gpt-5.4-mini 2026-03-17 retires
// 2027-03-18: a small reasoning model, quick and cheap enough for a chat, in Global Standard in every
// region listed for it. Global Standard is also the only deployment type the lowest quota tier lists
// for it. 50 (50,000 tokens a minute) is 5% of that tier's 1M and is the hard ceiling on what the
// deployment can spend; Azure counts each request's max_output_tokens (CHAT_MAX_OUTPUT_TOKENS, 4096)
// against it on admission, so about a dozen requests a minute fit. See docs/deploy.md.
@description('Chat model to deploy (a GA version; see infra/models.json for retirement dates).')
param chatModelName string = 'gpt-5.4-mini'

@description('Version of chatModelName.')
param chatModelVersion string = '2026-03-17'

// Azure refuses to change the model of an existing deployment (CannotChangeDeploymentModel), so the
// deployment is named after the model: a new model is a new deployment and the app follows it.
@description('Deployment name the app calls (AZURE_OPENAI_CHAT_DEPLOYMENT); defaults to the model name.')
param chatDeploymentName string = chatModelName

@allowed([ 'GlobalStandard', 'DataZoneStandard', 'Standard' ])
@description('Deployment SKU: GlobalStandard has the widest quota; Standard keeps processing in the region.')
param chatDeploymentSku string = 'GlobalStandard'

@minValue(1)
@description('Deployment capacity in thousands of tokens per minute.')
param chatDeploymentCapacity int = 50

@description('Name of an existing Azure OpenAI account to use instead of creating one (same subscription). Its chat deployment must already exist.')
param existingOpenAiName string = ''

@description('Resource group of existingOpenAiName.')
param existingOpenAiResourceGroup string = ''

@description('Endpoint of existingOpenAiName; read from the account when empty.')
param existingOpenAiEndpoint string = ''

// ---- App behaviour ------------------------------------------------------------------------------
@description('System prompt prepended to every conversation (CHAT_SYSTEM_PROMPT); empty for none.')
param chatSystemPrompt string = ''

@minValue(1)
@description('Seconds between keep-alive lines while the model is silent (CHAT_HEARTBEAT_SECONDS).')
param chatHeartbeatSeconds int = 15

// The app's own defaults (chat/settings.py), passed through so a deployment can change them with
// `azd env set` and `azd provision`. The app talks to {AZURE_OPENAI_ENDPOINT}/openai/v1/, which takes no API version.
@allowed([ 'responses', 'chat_completions' ])
@description('Upstream API the app calls (CHAT_UPSTREAM_API): the Responses API streams reasoning summaries.')
param chatUpstreamApi string = 'responses'

@minValue(16)
@description('Output-token cap sent on every upstream call (CHAT_MAX_OUTPUT_TOKENS); reasoning tokens count towards it.')
param chatMaxOutputTokens int = 4096

@allowed([ 'default', 'none', 'minimal', 'low', 'medium', 'high', 'xhigh' ])
@description('reasoning_effort (CHAT_REASONING_EFFORT); the app checks it against the model family (AZURE_OPENAI_CHAT_MODEL).')
param chatReasoningEffort string = 'low'

@allowed([ 'auto', 'detailed', 'off' ])
@description('Reasoning summaries streamed apart from the answer (CHAT_REASONING_SUMMARY); Responses API only.')
param chatReasoningSummary string = 'auto'

// ---- Resumable streams ---------------------------------------------------------------------------
// off: a client that loses its connection loses the answer. memory: answers are kept in each
// instance's memory, so a resume that lands on another instance finds nothing: one instance only.
// redis: Azure Managed Redis, shared by every instance, provisioned here and reached keylessly
// (infra/app/redis.bicep). docs/resume.md says when each is worth it and what it costs.
@allowed([ 'off', 'memory', 'redis' ])
@description('Where answers are kept so that a client that lost its connection can resume (CHAT_RESUME); "redis" provisions Azure Managed Redis.')
param resumeStore string = 'off'

// ---- Cost alert (optional, off by default) ----------------------------------------------------------
@minValue(0)
@description('Monthly cost budget on the resource group, in the billing currency; 0 (the default) creates none.')
param budgetAmount int = 0

@description('E-mail for the budget alerts (actual cost at 80% and 100%, forecast at 100%); the resource group Owners get them too.')
param budgetContactEmail string = ''

// Azure refuses to change a budget's start date ("Start date of budgets cannot be updated"), so the first
// value is kept in the azd environment through the AZURE_BUDGET_START_DATE output.
@description('First day of the budget\'s first month (yyyy-MM-01); defaults to the current month.')
param budgetStartDate string = utcNow('yyyy-MM-01')

// ---- Static Web App -----------------------------------------------------------------------------
// Static Web Apps is offered in a few regions only; content is served from the global edge anyway.
@allowed([ 'westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia' ])
@description('Region of the Static Web App resource (its metadata; content is served globally).')
param staticWebAppLocation string = 'eastus2'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var useExistingOpenAi = !empty(existingOpenAiName)
var linked = apiAccess == 'linked'

var functionAppName = 'func-api-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var openAiName = 'oai-${resourceToken}'
var openAiResourceGroupName = useExistingOpenAi ? existingOpenAiResourceGroup : rg.name
var useRedis = resumeStore == 'redis'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.5.0' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.16.1' = {
  name: 'log-analytics'
  scope: rg
  params: {
    name: 'log-${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
    // The workspace is reached through App Insights with Entra tokens; no shared-key clients.
    features: { disableLocalAuth: true }
  }
}

module appInsights 'br/public:avm/res/insights/component:0.8.0' = {
  name: 'app-insights'
  scope: rg
  params: {
    name: 'appi-${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    // Telemetry is accepted only with an Entra token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
    disableLocalAuth: true
    retentionInDays: 30
  }
}

module storage 'br/public:avm/res/storage/storage-account:0.33.0' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: 'Standard_LRS'
    kind: 'StorageV2'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Flex Consumption without a virtual network reaches its storage over the public endpoint;
    // access is by Entra role only (no keys, no SAS).
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        {
          name: deploymentContainerName
          publicAccess: 'None'
        }
      ]
    }
  }
}

module plan 'br/public:avm/res/web/serverfarm:0.7.0' = {
  name: 'plan'
  scope: rg
  params: {
    name: 'plan-${resourceToken}'
    location: location
    tags: tags
    skuName: 'FC1'
    kind: 'functionapp'
    reserved: true // Linux
    zoneRedundant: false
  }
}

module openAi 'br/public:avm/res/cognitive-services/account:0.18.0' = if (!useExistingOpenAi) {
  name: 'openai'
  scope: rg
  params: {
    name: openAiName
    location: openAiLocation
    tags: tags
    kind: 'OpenAI'
    sku: 'S0'
    // Entra tokens need a custom subdomain endpoint (https://<name>.openai.azure.com).
    customSubDomainName: openAiName
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    deployments: [
      {
        name: chatDeploymentName
        model: {
          format: 'OpenAI'
          name: chatModelName
          version: chatModelVersion
        }
        sku: {
          name: chatDeploymentSku
          capacity: chatDeploymentCapacity
        }
      }
    ]
  }
}

module existingOpenAi 'app/openai-existing.bicep' = if (useExistingOpenAi) {
  name: 'openai-existing'
  scope: resourceGroup(openAiResourceGroupName)
  params: {
    name: existingOpenAiName
  }
}

var existingEndpoint = empty(existingOpenAiEndpoint) ? existingOpenAi.outputs.endpoint : existingOpenAiEndpoint
var openAiEndpoint = useExistingOpenAi ? existingEndpoint : openAi.outputs.endpoint

module web 'br/public:avm/res/web/static-site:0.9.5' = {
  name: 'web'
  scope: rg
  params: {
    name: 'swa-web-${resourceToken}'
    location: staticWebAppLocation
    tags: union(tags, { 'azd-service-name': 'web' })
    // Linked backends need Standard; direct mode runs on Free.
    sku: linked ? 'Standard' : 'Free'
    stagingEnvironmentPolicy: 'Disabled'
    allowConfigFileUpdates: true
    provider: 'None'
  }
}

// The resume store shared by every instance, when asked for; the app identity (and the developer) may use it.
module redis 'app/redis.bicep' = if (useRedis) {
  name: 'redis'
  scope: rg
  params: {
    name: 'redis-${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

var webOrigin = 'https://${web.outputs.defaultHostname}'
var allowedOrigins = union([ webOrigin ], extraAllowedOrigins)

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    planId: plan.outputs.resourceId
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: appInsights.outputs.connectionString
    allowedOrigins: allowedOrigins
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    appSettings: {
      AZURE_OPENAI_ENDPOINT: openAiEndpoint
      AZURE_OPENAI_CHAT_DEPLOYMENT: chatDeploymentName
      // The model family, against which the app checks CHAT_REASONING_EFFORT.
      AZURE_OPENAI_CHAT_MODEL: chatModelName
      CHAT_UPSTREAM_API: chatUpstreamApi
      CHAT_MAX_OUTPUT_TOKENS: string(chatMaxOutputTokens)
      CHAT_REASONING_EFFORT: chatReasoningEffort
      CHAT_REASONING_SUMMARY: chatReasoningSummary
      CHAT_SYSTEM_PROMPT: chatSystemPrompt
      CHAT_HEARTBEAT_SECONDS: string(chatHeartbeatSeconds)
      // The app's backstop: twice what Flex routes to an instance, answered with 503 beyond (see RESULTS.md).
      CHAT_MAX_CONCURRENT_STREAMS: string(httpPerInstanceConcurrency * 2)
      ALLOWED_ORIGINS: join(allowedOrigins, ',')
      CHAT_RESUME: resumeStore
      // With 'redis': the cache's TLS endpoint without a password, and the app signs in with its
      // identity's Entra ID token (AZURE_CLIENT_ID picks the identity). Empty means unset.
      CHAT_REDIS_URL: useRedis ? redis.outputs.url : ''
      CHAT_REDIS_AUTH: useRedis ? 'entra' : ''
    }
  }
}

// Data-plane roles for the app identity on storage and App Insights (and the developer, optionally).
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: appInsights.outputs.name
    identityPrincipalId: identity.outputs.principalId
  }
}

// Cognitive Services OpenAI User on whichever account the app calls, new or existing.
module openAiAccess 'app/openai-access.bicep' = {
  name: 'openai-access'
  scope: resourceGroup(openAiResourceGroupName)
  params: {
    openAiName: useExistingOpenAi ? existingOpenAiName : openAiName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
  dependsOn: [ rg, openAi ]
}

// Linked mode: SWA forwards <web>/api/* to the function app and puts the app behind SWA's own auth.
module webBackend 'app/web-backend.bicep' = if (linked) {
  name: 'web-backend'
  scope: rg
  params: {
    staticSiteName: web.outputs.name
    backendResourceId: api.outputs.id
    backendLocation: location
  }
}

// Optional monthly cost alert on the resource group.
module budget 'app/budget.bicep' = if (budgetAmount > 0) {
  name: 'budget'
  scope: rg
  params: {
    name: 'budget-${environmentName}'
    amount: budgetAmount
    startDate: budgetStartDate
    contactEmails: empty(budgetContactEmail) ? [] : [ budgetContactEmail ]
  }
}

var apiOrigin = 'https://${api.outputs.defaultHostname}'

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_OPENAI_ENDPOINT string = openAiEndpoint
output AZURE_OPENAI_CHAT_DEPLOYMENT string = chatDeploymentName
output AZURE_OPENAI_CHAT_MODEL string = chatModelName
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_STATIC_WEB_APP_NAME string = web.outputs.name
output API_ACCESS string = apiAccess
// Where a client reaches the chat routes: <API_URL>/chat and <API_URL>/chat/stream.
output API_URL string = linked ? '${webOrigin}/api' : '${apiOrigin}/api'
output SERVICE_API_URI string = apiOrigin
output WEB_URL string = webOrigin
output SERVICE_WEB_URI string = webOrigin
// Read by infra/hooks/web_config.py to write web/config.json before the web service is deployed.
// apiBase is an origin without /api: "" means the page's own origin (the linked backend).
output WEB_CONFIG_API_BASE string = linked ? '' : apiOrigin
output WEB_CONFIG_FRAMING string = linked ? 'sse' : 'ndjson'
// For `make run` against the deployed cache (with CHAT_RESUME=redis and CHAT_REDIS_AUTH=entra); empty without one.
output CHAT_REDIS_URL string = useRedis ? redis.outputs.url : ''
// Read back by main.parameters.json on the next provision, so the budget keeps its start date.
output AZURE_BUDGET_START_DATE string = budgetAmount > 0 ? budgetStartDate : ''
