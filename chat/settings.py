"""App settings, read once from the environment (Functions app settings or local.settings.json)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal
from urllib.parse import urlsplit

from chat.errors import ConfigurationError

OpenAIHost = Literal["azure", "local"]
SystemMessagePolicy = Literal["allow", "drop"]
UpstreamApi = Literal["responses", "chat_completions"]
ResumeStore = Literal["off", "memory", "redis"]
RedisAuth = Literal["url", "entra"]

# Tokens the chat format wraps around each message and the reply, with room to spare.
MESSAGE_FRAMING_TOKENS = 8
REPLY_FRAMING_TOKENS = 16

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
# What each gpt-5 family accepts (Azure OpenAI reasoning models docs): the floor moved from
# `minimal` to `none` with gpt-5.1, which also added `xhigh`. Models not listed are not checked.
_EFFORTS_GPT5 = ("minimal", "low", "medium", "high")
_EFFORTS_GPT51_ON = ("none", "low", "medium", "high", "xhigh")


def efforts_for(model: str) -> tuple[str, ...] | None:
    """The reasoning efforts a model family accepts, or None when the family is not known here."""
    family = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", model.lower())  # a dated model name: its family
    if family in ("gpt-5", "gpt-5-mini", "gpt-5-nano"):
        return _EFFORTS_GPT5
    if family.startswith("gpt-5."):
        return _EFFORTS_GPT51_ON
    return None


@dataclass(frozen=True, slots=True)
class Settings:
    openai_host: OpenAIHost = "azure"
    azure_openai_endpoint: str = ""
    azure_openai_chat_deployment: str = ""
    azure_openai_chat_model: str = ""
    azure_openai_api_key: str = ""
    azure_client_id: str = ""
    local_openai_endpoint: str = ""
    local_openai_model: str = ""
    upstream_api: UpstreamApi = "responses"
    max_output_tokens: int = 4096
    reasoning_effort: str = "low"
    reasoning_summary: str = "auto"
    system_prompt: str = ""
    client_system_messages: SystemMessagePolicy = "drop"
    heartbeat_seconds: float = 15.0
    max_body_bytes: int = 1024 * 1024
    max_messages: int = 100
    max_input_bytes: int = 32 * 1024
    body_timeout_seconds: float = 10.0
    max_concurrent_streams: int = 100
    client_requests_per_minute: int = 20
    client_concurrent_streams: int = 3
    client_tokens_per_minute: int = 40_000
    upstream_timeout_seconds: float = 300.0
    upstream_max_retries: int = 2
    upstream_max_retry_wait_seconds: float = 10.0
    allowed_origins: tuple[str, ...] = ()
    resume: ResumeStore = "off"
    resume_ttl_seconds: float = 300.0
    resume_grace_seconds: float = 30.0
    resume_max_stream_bytes: int = 1024 * 1024
    resume_max_memory_bytes: int = 64 * 1024 * 1024
    redis_url: str = ""
    redis_auth: RedisAuth = "url"
    warnings: tuple[str, ...] = ()

    def input_token_bound(self, content_bytes: int, messages: int) -> int:
        """The most input tokens a request can cost upstream: no tokenizer makes more tokens than UTF-8
        bytes, and the chat format adds a few a message (OpenAI counts 3, and 3 to prime the reply)."""
        system = len(self.system_prompt.encode()) + MESSAGE_FRAMING_TOKENS if self.system_prompt else 0
        return content_bytes + MESSAGE_FRAMING_TOKENS * messages + system + REPLY_FRAMING_TOKENS

    @property
    def largest_request_tokens(self) -> int:
        """The most tokens one request can cost: the largest input the limits let in, and the output cap."""
        return self.input_token_bound(self.max_input_bytes, self.max_messages) + self.max_output_tokens

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
        host = reader.choice("OPENAI_HOST", ("azure", "local"), "azure")
        model = reader.text("AZURE_OPENAI_CHAT_MODEL") if host == "azure" else reader.text("LOCAL_OPENAI_MODEL")
        # Local servers speak Chat Completions and take no reasoning options unless asked.
        effort = reader.choice(
            "CHAT_REASONING_EFFORT", ("default", *REASONING_EFFORTS), "low" if host == "azure" else "default"
        )
        accepted = efforts_for(model)
        if effort != "default" and accepted is not None and effort not in accepted:
            reader.problems.append(
                f"CHAT_REASONING_EFFORT={effort} is not accepted by {model}: use one of {', '.join(accepted)}"
            )
        warnings = []
        if reader.text("CHAT_MAX_CHARACTERS"):
            warnings.append(
                "CHAT_MAX_CHARACTERS is ignored: the input is bounded in UTF-8 bytes (CHAT_MAX_INPUT_BYTES), "
                "which bound tokens where characters do not"
            )
        if reader.text("AZURE_OPENAI_API_VERSION"):
            warnings.append(
                "AZURE_OPENAI_API_VERSION is ignored: the app uses the Azure OpenAI v1 API, which takes none"
            )
        settings = cls(
            openai_host=host,  # type: ignore[arg-type]
            azure_openai_endpoint=reader.text("AZURE_OPENAI_ENDPOINT").rstrip("/"),
            azure_openai_chat_deployment=reader.text("AZURE_OPENAI_CHAT_DEPLOYMENT"),
            azure_openai_chat_model=reader.text("AZURE_OPENAI_CHAT_MODEL"),
            upstream_api=reader.choice(  # type: ignore[arg-type]
                "CHAT_UPSTREAM_API",
                ("responses", "chat_completions"),
                "responses" if host == "azure" else "chat_completions",
            ),
            max_output_tokens=reader.whole("CHAT_MAX_OUTPUT_TOKENS", _DEFAULTS.max_output_tokens, minimum=16),
            reasoning_effort="" if effort == "default" else effort,
            reasoning_summary=reader.choice("CHAT_REASONING_SUMMARY", ("auto", "detailed", "off"), "auto"),
            azure_openai_api_key=reader.text("AZURE_OPENAI_API_KEY"),
            azure_client_id=reader.text("AZURE_CLIENT_ID"),
            local_openai_endpoint=reader.text("LOCAL_OPENAI_ENDPOINT").rstrip("/"),
            local_openai_model=reader.text("LOCAL_OPENAI_MODEL"),
            system_prompt=reader.text("CHAT_SYSTEM_PROMPT"),
            client_system_messages=reader.choice(  # type: ignore[arg-type]
                "CHAT_CLIENT_SYSTEM_MESSAGES", ("allow", "drop"), _DEFAULTS.client_system_messages
            ),
            heartbeat_seconds=reader.number("CHAT_HEARTBEAT_SECONDS", _DEFAULTS.heartbeat_seconds, minimum=0.05),
            max_body_bytes=reader.whole("CHAT_MAX_BODY_BYTES", _DEFAULTS.max_body_bytes, minimum=1),
            max_messages=reader.whole("CHAT_MAX_MESSAGES", _DEFAULTS.max_messages, minimum=1),
            max_input_bytes=reader.whole("CHAT_MAX_INPUT_BYTES", _DEFAULTS.max_input_bytes, minimum=1),
            body_timeout_seconds=reader.number(
                "CHAT_BODY_TIMEOUT_SECONDS", _DEFAULTS.body_timeout_seconds, minimum=0.1
            ),
            max_concurrent_streams=reader.whole(
                "CHAT_MAX_CONCURRENT_STREAMS", _DEFAULTS.max_concurrent_streams, minimum=1
            ),
            client_requests_per_minute=reader.whole(
                "CHAT_CLIENT_REQUESTS_PER_MINUTE", _DEFAULTS.client_requests_per_minute, minimum=0
            ),
            client_concurrent_streams=reader.whole(
                "CHAT_CLIENT_CONCURRENT_STREAMS", _DEFAULTS.client_concurrent_streams, minimum=0
            ),
            client_tokens_per_minute=reader.whole(
                "CHAT_CLIENT_TOKENS_PER_MINUTE", _DEFAULTS.client_tokens_per_minute, minimum=0
            ),
            upstream_timeout_seconds=reader.number(
                "CHAT_UPSTREAM_TIMEOUT_SECONDS", _DEFAULTS.upstream_timeout_seconds, minimum=0.1
            ),
            upstream_max_retries=reader.whole("CHAT_UPSTREAM_MAX_RETRIES", _DEFAULTS.upstream_max_retries, minimum=0),
            upstream_max_retry_wait_seconds=reader.number(
                "CHAT_UPSTREAM_MAX_RETRY_WAIT_SECONDS", _DEFAULTS.upstream_max_retry_wait_seconds, minimum=0
            ),
            allowed_origins=tuple(o.strip() for o in reader.text("ALLOWED_ORIGINS").split(",") if o.strip()),
            resume=reader.choice("CHAT_RESUME", ("off", "memory", "redis"), "off"),  # type: ignore[arg-type]
            resume_ttl_seconds=reader.number("CHAT_RESUME_TTL_SECONDS", _DEFAULTS.resume_ttl_seconds, minimum=1),
            resume_grace_seconds=reader.number(
                "CHAT_RESUME_GRACE_SECONDS", _DEFAULTS.resume_grace_seconds, minimum=0.1
            ),
            resume_max_stream_bytes=reader.whole(
                "CHAT_RESUME_MAX_STREAM_BYTES", _DEFAULTS.resume_max_stream_bytes, minimum=1024
            ),
            resume_max_memory_bytes=reader.whole(
                "CHAT_RESUME_MAX_MEMORY_BYTES", _DEFAULTS.resume_max_memory_bytes, minimum=1024
            ),
            redis_url=reader.text("CHAT_REDIS_URL"),
            redis_auth=reader.choice("CHAT_REDIS_AUTH", ("url", "entra"), "url"),  # type: ignore[arg-type]
            warnings=tuple(warnings),
        )
        if 0 < settings.client_tokens_per_minute < settings.largest_request_tokens:
            reader.problems.append(
                f"CHAT_CLIENT_TOKENS_PER_MINUTE must be 0 (off) or at least {settings.largest_request_tokens}, "
                "what the largest request may cost (CHAT_MAX_INPUT_BYTES, CHAT_MAX_MESSAGES and CHAT_SYSTEM_PROMPT "
                "bound its input; CHAT_MAX_OUTPUT_TOKENS its output)"
            )
        if settings.resume == "redis" and not settings.redis_url:
            reader.problems.append("CHAT_RESUME=redis needs CHAT_REDIS_URL (redis://host:port or rediss://host:port)")
        if settings.redis_auth == "entra" and _has_credentials(settings.redis_url):
            reader.problems.append(
                "CHAT_REDIS_AUTH=entra signs in with the app's Entra ID token: "
                "CHAT_REDIS_URL must carry no user name or password"
            )
        if reader.problems:
            raise ConfigurationError("Invalid settings: " + "; ".join(reader.problems))
        return settings


_DEFAULTS = Settings()


def _has_credentials(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return bool(parts.username or parts.password)
    except ValueError:  # a malformed URL: the Redis client names the problem when it connects
        return False


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

    def whole(self, name: str, default: int, *, minimum: int) -> int:
        return int(self.number(name, default, minimum=minimum, integer=True))

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
