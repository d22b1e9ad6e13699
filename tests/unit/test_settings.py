import pytest

from chat.errors import ConfigurationError
from chat.settings import Settings
from chat.upstream import build_upstream


def test_defaults_are_keyless_azure():
    settings = Settings.from_env({})
    assert settings.openai_host == "azure"
    assert settings.azure_openai_api_key == ""
    assert settings.heartbeat_seconds == 15
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.missing_upstream_settings() == ["AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_CHAT_DEPLOYMENT"]


def test_local_host_needs_its_own_settings():
    settings = Settings.from_env({"OPENAI_HOST": "local", "LOCAL_OPENAI_ENDPOINT": "http://127.0.0.1:8080/v1"})
    assert settings.missing_upstream_settings() == ["LOCAL_OPENAI_MODEL"]


def test_every_malformed_setting_is_named_at_once():
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"CHAT_HEARTBEAT_SECONDS": "soon", "CHAT_MAX_MESSAGES": "0", "OPENAI_HOST": "aws"})
    message = caught.value.message
    assert "CHAT_HEARTBEAT_SECONDS" in message and "CHAT_MAX_MESSAGES" in message and "OPENAI_HOST" in message
    assert caught.value.status == 500


def test_values_are_parsed():
    settings = Settings.from_env(
        {
            "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com/",
            "AZURE_OPENAI_CHAT_DEPLOYMENT": "chat",
            "CHAT_HEARTBEAT_SECONDS": "0.5",
            "ALLOWED_ORIGINS": "https://a.example, https://b.example,",
            "CHAT_CLIENT_SYSTEM_MESSAGES": "ALLOW",
        }
    )
    assert settings.azure_openai_endpoint == "https://x.openai.azure.com"
    assert settings.model == "chat"
    assert settings.heartbeat_seconds == 0.5
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.client_system_messages == "allow"


def test_missing_settings_fail_with_their_names_not_a_stack_trace():
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_CHAT_DEPLOYMENT"):
        build_upstream(Settings())


def test_keyless_client_uses_a_token_provider_not_a_key():
    settings = Settings(azure_openai_endpoint="https://x.openai.azure.com", azure_openai_chat_deployment="chat")
    client = build_upstream(settings).client
    assert callable(client._api_key_provider)
    assert str(client.base_url) == "https://x.openai.azure.com/openai/v1/"
    assert client.max_retries == 0


def test_managed_identity_is_chosen_when_a_client_id_is_set():
    from chat.identity import credential

    assert type(credential(Settings(azure_client_id="abc"))).__name__ == "ManagedIdentityCredential"
    assert type(credential(Settings())).__name__ == "DefaultAzureCredential"
