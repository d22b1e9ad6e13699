"""App settings, read once from the environment (Functions app settings or local.settings.json)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from chat.errors import ConfigurationError

OpenAIHost = Literal["azure", "local"]
SystemMessagePolicy = Literal["allow", "drop"]


@dataclass(frozen=True, slots=True)
class Settings:
    openai_host: OpenAIHost = "azure"
    azure_openai_endpoint: str = ""
    azure_openai_chat_deployment: str = ""
    azure_openai_api_version: str = "2024-10-21"
    azure_openai_api_key: str = ""
    azure_client_id: str = ""
    local_openai_endpoint: str = ""
    local_openai_model: str = ""
    system_prompt: str = ""
    client_system_messages: SystemMessagePolicy = "drop"
    heartbeat_seconds: float = 15.0
    max_body_bytes: int = 1024 * 1024
    max_messages: int = 100
    max_characters: int = 100_000
    max_concurrent_streams: int = 100
    upstream_timeout_seconds: float = 300.0
    upstream_max_retries: int = 2
    upstream_max_retry_wait_seconds: float = 10.0
    allowed_origins: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        """The `model` argument upstream: the deployment name on Azure, the model name elsewhere."""
        return self.local_openai_model if self.openai_host == "local" else self.azure_openai_chat_deployment

    def missing_upstream_settings(self) -> list[str]:
        """Names of the settings the upstream client needs and does not have."""
        required = (
            {"LOCAL_OPENAI_ENDPOINT": self.local_openai_endpoint, "LOCAL_OPENAI_MODEL": self.local_openai_model}
            if self.openai_host == "local"
            else {
                "AZURE_OPENAI_ENDPOINT": self.azure_openai_endpoint,
                "AZURE_OPENAI_CHAT_DEPLOYMENT": self.azure_openai_chat_deployment,
            }
        )
        return [name for name, value in required.items() if not value]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse settings; a malformed value raises `ConfigurationError` naming it."""
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            openai_host=reader.choice("OPENAI_HOST", ("azure", "local"), "azure"),  # type: ignore[arg-type]
            azure_openai_endpoint=reader.text("AZURE_OPENAI_ENDPOINT").rstrip("/"),
            azure_openai_chat_deployment=reader.text("AZURE_OPENAI_CHAT_DEPLOYMENT"),
            azure_openai_api_version=reader.text("AZURE_OPENAI_API_VERSION", _DEFAULTS.azure_openai_api_version),
            azure_openai_api_key=reader.text("AZURE_OPENAI_API_KEY"),
            azure_client_id=reader.text("AZURE_CLIENT_ID"),
            local_openai_endpoint=reader.text("LOCAL_OPENAI_ENDPOINT").rstrip("/"),
            local_openai_model=reader.text("LOCAL_OPENAI_MODEL"),
            system_prompt=reader.text("CHAT_SYSTEM_PROMPT"),
            client_system_messages=reader.choice(  # type: ignore[arg-type]
                "CHAT_CLIENT_SYSTEM_MESSAGES", ("allow", "drop"), _DEFAULTS.client_system_messages
            ),
            heartbeat_seconds=reader.number("CHAT_HEARTBEAT_SECONDS", _DEFAULTS.heartbeat_seconds, minimum=0.05),
            max_body_bytes=int(reader.number("CHAT_MAX_BODY_BYTES", _DEFAULTS.max_body_bytes, minimum=1, integer=True)),
            max_messages=int(reader.number("CHAT_MAX_MESSAGES", _DEFAULTS.max_messages, minimum=1, integer=True)),
            max_characters=int(reader.number("CHAT_MAX_CHARACTERS", _DEFAULTS.max_characters, minimum=1, integer=True)),
            max_concurrent_streams=int(
                reader.number("CHAT_MAX_CONCURRENT_STREAMS", _DEFAULTS.max_concurrent_streams, minimum=1, integer=True)
            ),
            upstream_timeout_seconds=reader.number(
                "CHAT_UPSTREAM_TIMEOUT_SECONDS", _DEFAULTS.upstream_timeout_seconds, minimum=0.1
            ),
            upstream_max_retries=int(
                reader.number("CHAT_UPSTREAM_MAX_RETRIES", _DEFAULTS.upstream_max_retries, minimum=0, integer=True)
            ),
            upstream_max_retry_wait_seconds=reader.number(
                "CHAT_UPSTREAM_MAX_RETRY_WAIT_SECONDS", _DEFAULTS.upstream_max_retry_wait_seconds, minimum=0
            ),
            allowed_origins=tuple(o.strip() for o in reader.text("ALLOWED_ORIGINS").split(",") if o.strip()),
        )
        if reader.problems:
            raise ConfigurationError("Invalid settings: " + "; ".join(reader.problems))
        return settings


_DEFAULTS = Settings()


class _Reader:
    """Collects every malformed setting so one error names them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str = "") -> str:
        return self.env.get(name, "").strip() or default

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            self.problems.append(f"{name} must be one of {', '.join(allowed)}")
            return default
        return value

    def number(self, name: str, default: float, *, minimum: float, integer: bool = False) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            self.problems.append(f"{name} must be {'a whole number' if integer else 'a number'}")
            return default
        if value < minimum:
            self.problems.append(f"{name} must be at least {minimum:g}")
            return default
        return value


@cache
def get_settings() -> Settings:
    """The process's settings, parsed on first use (a worker reads its app settings once)."""
    return Settings.from_env()
