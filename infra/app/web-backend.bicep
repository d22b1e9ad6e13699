// Links the function app as the Static Web App's backend: <web>/api/* is forwarded to it, and SWA
// sets an identity provider on the function app so that only the Static Web App can call it.
// Requires the Standard SKU. SWA caps each API request at 45 s and buffers responses that are not
// text/event-stream, hence "sse" framing on this path (docs/deploy.md).

param staticSiteName string
param backendResourceId string
param backendLocation string

resource staticSite 'Microsoft.Web/staticSites@2024-11-01' existing = {
  name: staticSiteName
}

resource backend 'Microsoft.Web/staticSites/linkedBackends@2024-11-01' = {
  parent: staticSite
  name: 'api'
  properties: {
    backendResourceId: backendResourceId
    region: backendLocation
  }
}
