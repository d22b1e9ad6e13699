"""The app's identity for the Azure services it signs in to keylessly: Azure OpenAI and, for resume, Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.settings import Settings

if TYPE_CHECKING:
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential


def credential(settings: Settings) -> ManagedIdentityCredential | DefaultAzureCredential:
    """The app's user-assigned managed identity in Azure; `az login` (or any developer credential) locally."""
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if settings.azure_client_id:
        return ManagedIdentityCredential(client_id=settings.azure_client_id)
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)
