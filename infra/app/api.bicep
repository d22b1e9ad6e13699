// The chat API: a Python function app on Flex Consumption that runs as the user-assigned identity.
// Written as resources rather than through the AVM site module so that checkov and
// tests/infra/test_property_names.py can see every security setting here without a registry.

@description('Function app name (also its default host name prefix).')
param name string
param location string
param tags object

@description('Resource id of the Flex Consumption (FC1) plan.')
param planId string

@description('Resource id and client id of the user-assigned identity the app runs as.')
param identityId string
param identityClientId string

@description('Storage account for the Functions host and the deployment package container.')
param storageAccountName string
param deploymentContainerName string

@description('Application Insights connection string (ingestion endpoint; not a secret once local auth is off).')
param appInsightsConnectionString string

@description('Browser origins CORS admits: the Static Web App first, then any extras.')
param allowedOrigins array

@description('Concurrent HTTP invocations per instance (see main.bicep).')
param httpPerInstanceConcurrency int
param maximumInstanceCount int
param instanceMemoryMB int

@description('App settings the chat code reads (AZURE_OPENAI_*, CHAT_*, ALLOWED_ORIGINS).')
param appSettings object

// The same interpreter the tests run on; on 3.13+ the worker's runtime is the app's pinned
// azure-functions-runtime (requirements.txt), and indexing at start-up is the default.
var pythonVersion = '3.13'

// Flex Consumption takes runtime and worker settings from functionAppConfig and rejects
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION / WEBSITE_RUN_FROM_PACKAGE as app settings.
var platformSettings = {
  // Host storage over the identity: no connection string, no account key.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Telemetry is sent with an Entra token for the same identity (the component has local auth off).
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The app's ManagedIdentityCredential picks this identity.
  AZURE_CLIENT_ID: identityClientId
}
var allSettings = union(appSettings, platformSettings)

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222: Public network access is how the API is reached: by browsers (direct) or by the Static Web App edge (linked). There is no private network in this design.
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    // checkov:skip=CKV_AZURE_17: Incoming client certificates (mTLS) cannot be presented by browsers calling a public chat API.
    // checkov:skip=CKV_AZURE_212: Flex Consumption adds and removes instances itself (up to maximumInstanceCount); a fixed minimum instance count (numberOfWorkers) does not apply to it.
    // checkov:skip=CKV_AZURE_213: App Service health check takes unhealthy instances out of a fixed worker pool; a scale-to-zero Flex plan has no such pool and replaces instances itself, and a probe every minute would be a billed execution around the clock.
    serverFarmId: planId
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(allSettings): { name: setting.key, value: setting.value }]
      cors: {
        allowedOrigins: allowedOrigins
        supportCredentials: false
      }
    }
  }
}

// Publishing uses Entra tokens (azd, az, Core Tools); no FTP or basic-auth SCM credentials exist.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostname string = functionApp.properties.defaultHostName
