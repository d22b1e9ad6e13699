// "Cognitive Services OpenAI User" on one Azure OpenAI account: call deployments, nothing else
// (no keys, no management). Deployed into the account's own resource group, new or existing.

@description('Name of the Azure OpenAI account in this resource group.')
param openAiName string

@description('Principal (object) id of the app\'s user-assigned identity.')
param identityPrincipalId string

@description('Object id of the developer (or CI principal) who runs azd; empty to skip.')
param userPrincipalId string = ''

@allowed([ 'User', 'ServicePrincipal' ])
param userPrincipalType string = 'User'

var openAiUser = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource openAi 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: openAiName
}

resource appCanCall 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(openAi.id, identityPrincipalId, openAiUser)
  scope: openAi
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Lets `make run` on a developer machine call the same deployment after `az login`.
resource developerCanCall 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(openAi.id, userPrincipalId, openAiUser)
  scope: openAi
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUser)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}
