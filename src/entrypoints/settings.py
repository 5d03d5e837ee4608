"""The one settings object; nothing else reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from src.adapters.skills.llm_settings import (
    LlmSettings,
    blank_is_unset,
    check_base_url,
    check_pair,
)
from src.adapters.sql.database import redact, sqlalchemy_url, store_kind
from src.application.ports.nudges import NudgeSettings
from src.entrypoints.analysers import parse_specs


class Settings(BaseSettings):
    """Every setting (docs/configuration.md); names are the environment variables, any case."""

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
    event_analysers: str = ""
    auto_process_on_startup: bool = True
    poll_interval_seconds: float = Field(2.0, gt=0)
    nudge_cooldown_hours: float = Field(24.0, ge=0)
    # Experiments on the nudge messages (docs/nudges-and-experiments.md).
    nudge_experiments_file: Path | None = None
    nudge_attribution_days: int = Field(7, ge=1, le=365)
    nudge_max_per_day: int = Field(1, ge=1, le=100)
    # The choice among nudges competing under the cap (docs/nudge-choice.md): the share
    # of draws that explore, and how long the worker reuses the conversions it read.
    nudge_choice_min_share: float = Field(0.1, ge=0, le=1)
    nudge_choice_refresh_seconds: float = Field(60.0, ge=0, le=3600)
    flywheel_api_token: SecretStr | None = None
    supabase_url: str | None = None
    supabase_anon_key: SecretStr | None = None
    supabase_service_role_key: SecretStr | None = None
    # The worker touches it while its loop runs; ``worker-alive`` reads its age (the
    # container health check of docker-compose.yml). Unset: no file.
    worker_heartbeat_file: Path | None = None
    # Processed and duplicate events leave phoenix_events this many days after their
    # processing (their users' journeys keep them): see docs/retention.md.
    event_retention_days: int = Field(30, ge=1, le=36_500)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Skills read from free text by a model behind an OpenAI-compatible endpoint (see
    # docs/llm.md): off unless LLM_BASE_URL and LLM_MODEL are both set.
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    # Unset: a share of EVENT_PROCESSING_TIMEOUT; set, it must stay below it.
    llm_timeout_seconds: float | None = Field(None, gt=0)
    llm_concurrency: int = Field(2, ge=1, le=64)
    # The built-in skills-gap analyser (offers against the latest CV, offline): on unless
    # set to false.
    skills_gap_analyser: bool = True

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        store_kind(value)
        try:
            sqlalchemy_url(value)  # e.g. ``sqlite:///`` names no file
        except (ArgumentError, ValueError) as error:
            if str(error).startswith("DATABASE_URL"):
                raise
            raise ValueError(
                f"DATABASE_URL is not a database URL (got {redact(value)!r}); "
                "e.g. sqlite:///phoenix_flywheel.db or postgresql://user:password@host/db"
            ) from None
        return value

    @field_validator("flywheel_api_token")
    @classmethod
    def _usable_token(cls, value: SecretStr | None) -> SecretStr | None:
        """Set means guarded: a token no client can send would leave the API open or shut.

        ``FLYWHEEL_API_TOKEN=`` (a line left empty in ``.env``) used to mean "no token",
        silently serving journeys and nudges to anyone.
        """
        if value is None:
            return None
        token = value.get_secret_value()
        if not token.strip():
            raise ValueError(
                "FLYWHEEL_API_TOKEN is set but empty: give it a value (e.g. the output of "
                "`openssl rand -hex 32`), or remove the line to run without a token"
            )
        if token != token.strip() or not all(" " <= c <= "~" for c in token):
            raise ValueError(
                "FLYWHEEL_API_TOKEN must be printable ASCII without spaces around it, "
                "as an Authorization header carries it"
            )
        return value

    @field_validator("event_analysers")
    @classmethod
    def _analyser_specs(cls, value: str) -> str:
        parse_specs(value)
        return value

    @field_validator("llm_base_url", "llm_model", mode="before")
    @classmethod
    def _llm_blank_is_unset(cls, value: object) -> object:
        return blank_is_unset(value)

    @field_validator("llm_base_url")
    @classmethod
    def _llm_url(cls, value: str | None) -> str | None:
        return check_base_url(value)

    @field_validator("llm_model")
    @classmethod
    def _llm_pair(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "llm_base_url" in info.data:  # else LLM_BASE_URL's own error is reported
            check_pair(info.data["llm_base_url"], value)
        return value

    @field_validator("llm_timeout_seconds")
    @classmethod
    def _llm_timeout_below_the_events(
        cls, value: float | None, info: ValidationInfo
    ) -> float | None:
        """The worker's deadline for the whole event must leave the model's answer time
        to be used: a model still thinking when the event times out is a wasted call."""
        budget = info.data.get("event_processing_timeout")
        if value is not None and budget is not None and value >= budget:
            raise ValueError(
                f"LLM_TIMEOUT_SECONDS must be below EVENT_PROCESSING_TIMEOUT ({budget:g}); "
                f"got {value:g}"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def analyser_specs(self) -> tuple[str, ...]:
        """``EVENT_ANALYSERS`` as ``module:attr`` specs (see ``src/entrypoints/analysers.py``)."""
        return parse_specs(self.event_analysers)

    @property
    def store_kind(self) -> str:
        return store_kind(self.database_url)

    @property
    def nudge_settings(self) -> NudgeSettings:
        """What the nudge rules need, as the store keeps them for every path to read."""
        return NudgeSettings(
            cooldown_hours=self.nudge_cooldown_hours,
            max_per_day=self.nudge_max_per_day,
            attribution_days=self.nudge_attribution_days,
        )

    @property
    def llm(self) -> LlmSettings:
        """The skills extractor's endpoint (``enabled`` is False when it is off)."""
        return LlmSettings(
            base_url=self.llm_base_url, model=self.llm_model, api_key=self.llm_api_key
        )
