// The shared resume store (resumeStore = 'redis', CHAT_RESUME=redis): Azure Managed Redis, keyless.
// Access keys are off, so no secret exists to read or leak; the app signs in with its user-assigned
// identity's Entra ID token as the password of the user named by the identity's object id
// (chat/resume/redis_auth.py). Written as resources rather than through the AVM redis-enterprise
// module so that tests/infra can check every property here against the REST models (as for
// api.bicep), and because that module's database and access-policy children pin a preview API.

@description('Cache name (also the first label of its host name).')
param name string
param location string
param tags object

@description('Azure Managed Redis SKU; Balanced_B0 is the smallest. Size it for streams x answer size (docs/resume.md).')
param skuName string = 'Balanced_B0'

@description('Principal (object) id of the app\'s user-assigned identity: the Redis user the app signs in as.')
param identityPrincipalId string

@description('Object id of the developer (or CI principal) who runs azd, for `make run` against this cache; empty to skip.')
param userPrincipalId string = ''

resource cache 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    // A replica, for the SLA; 'Disabled' halves the price and loses only in-flight resumability on a failover.
    highAvailability: 'Enabled'
    // No private network in this design (as for the function app and storage): Entra ID is the gate.
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: cache
  name: 'default'
  properties: {
    // TLS only, on the one port Azure Managed Redis serves.
    clientProtocol: 'Encrypted'
    port: 10000
    // Entra ID only: no access keys.
    accessKeysAuthentication: 'Disabled'
    // One endpoint speaking the classic protocol: the app's client is redis.asyncio.Redis, not a cluster
    // client, and the store sends single-key commands and pub/sub only. (OSSCluster, the API's default,
    // needs a cluster-aware client.)
    clusteringPolicy: 'EnterpriseCluster'
    // Every key the store writes has a TTL, so when memory runs short the least recently used streams go.
    evictionPolicy: 'VolatileLRU'
  }
}

// The default access policy (the data commands the store uses) for the app's identity. An assignment's
// name takes letters and digits only, hence the object id without its dashes.
resource appCanUse 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = {
  parent: database
  name: replace(identityPrincipalId, '-', '')
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: identityPrincipalId
    }
  }
}

// One change at a time on the database: the second assignment waits for the first.
resource developerCanUse 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = if (!empty(userPrincipalId)) {
  parent: database
  name: replace(userPrincipalId, '-', '')
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: userPrincipalId
    }
  }
  dependsOn: [ appCanUse ]
}

// No user and no password: the app adds its token (CHAT_REDIS_AUTH=entra).
output url string = 'rediss://${cache.properties.hostName}:${database.properties.port}'
