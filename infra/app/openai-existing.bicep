// Reads the endpoint of an Azure OpenAI account that azd does not manage.

param name string

resource openAi 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: name
}

output endpoint string = openAi.properties.endpoint
