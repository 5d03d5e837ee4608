"""The one settings object; nothing else reads the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from src.adapters.sql_database import store_kind


class Settings(BaseSettings):
    """Section 6 of the brief; names are the environment variables, case-insensitive."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = "sqlite:///phoenix_flywheel.db"
    event_batch_size: int = Field(100, ge=1, le=10_000)
    event_concurrency: int = Field(5, ge=1, le=1_000)
    event_processing_timeout: float = Field(30.0, gt=0)
    event_max_attempts: int = Field(5, ge=1, le=100)
    event_retry_backoff_seconds: float = Field(2.0, ge=0)
    # Short, because a heartbeat renews it (every third of it) while a batch is in hand:
    # a slow event keeps its lease, a crashed worker's events return within seconds.
    event_lease_seconds: float = Field(15.0, ge=1)
    auto_process_on_startup: bool = True
    poll_interval_seconds: float = Field(2.0, gt=0)
    nudge_cooldown_hours: float = Field(24.0, ge=0)
    flywheel_api_token: SecretStr | None = None
    supabase_url: str | None = None
    supabase_anon_key: SecretStr | None = None
    supabase_service_role_key: SecretStr | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        store_kind(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def store_kind(self) -> str:
        return store_kind(self.database_url)
