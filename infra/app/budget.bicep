// A monthly cost budget on the resource group it is deployed into, with e-mail alerts. Optional: main.bicep
// deploys it only when budgetAmount is above 0. A budget alerts; it never stops or caps spending.

@description('Budget name, unique in the resource group.')
param name string

@minValue(1)
@description('Monthly amount in the billing currency of the subscription.')
param amount int

@description('First day of the first month, yyyy-MM-01; Azure refuses to change it on an existing budget.')
param startDate string

@description('Addresses that get the alerts; the resource group Owners get them as well.')
param contactEmails array

// Alerts go to contactEmails and to the resource group's Owners, so an empty address list still reaches someone.
resource budget 'Microsoft.Consumption/budgets@2024-08-01' = {
  name: name
  properties: {
    category: 'Cost'
    amount: amount
    timeGrain: 'Monthly'
    timePeriod: {
      startDate: startDate
    }
    notifications: {
      actual80: {
        enabled: true
        operator: 'GreaterThanOrEqualTo'
        threshold: 80
        thresholdType: 'Actual'
        contactEmails: contactEmails
        contactRoles: [ 'Owner' ]
      }
      actual100: {
        enabled: true
        operator: 'GreaterThanOrEqualTo'
        threshold: 100
        thresholdType: 'Actual'
        contactEmails: contactEmails
        contactRoles: [ 'Owner' ]
      }
      forecast100: {
        enabled: true
        operator: 'GreaterThan'
        threshold: 100
        thresholdType: 'Forecasted'
        contactEmails: contactEmails
        contactRoles: [ 'Owner' ]
      }
    }
  }
}
