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

// The same interpreter the tests run on.
var pythonVersion = '3.11'

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

// checkov:skip=CKV_AZURE_56: App Service authentication is not configured by us. In "direct" mode the API is meant to be called anonymously from the browser; in "linked" mode the Static Web App configures its own identity provider on this app when it links it.
// checkov:skip=CKV_AZURE_212: Flex Consumption scales out per instance by itself (up to maximumInstanceCount); there is no instance count or zone setting for it on the site.
// checkov:skip=CKV_AZURE_221: Public network access is the point of this app: browsers (direct mode) or the Static Web App's edge (linked mode) reach it over the internet.
resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
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

// Flex Consumption takes runtime and worker settings from functionAppConfig and rejects
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION / WEBSITE_* here.
resource settings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(appSettings, {
    // Host storage over the identity: no connection string, no account key.
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // Telemetry is sent with an Entra token for the same identity (the component has local auth off).
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // The app's DefaultAzureCredential / ManagedIdentityCredential picks this identity.
    AZURE_CLIENT_ID: identityClientId
    // Python <= 3.12 needs indexing at start-up for HTTP streaming (azure-functions-python-worker #1539).
    PYTHON_ENABLE_INIT_INDEXING: '1'
  })
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostname string = functionApp.properties.defaultHostName
