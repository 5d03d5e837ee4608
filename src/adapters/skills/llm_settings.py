"""Where the LLM skills extractor finds its model: off unless both URL and model are set."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator


class LlmSettings(BaseModel):
    """``LLM_BASE_URL``, ``LLM_MODEL`` and ``LLM_API_KEY``, validated.

    The extractor is off when neither URL nor model is set; one without the other is a
    mistake, refused with a message naming the missing one, rather than a worker that
    silently never extracts. The key is optional: Ollama, vLLM and the llama.cpp server
    need none by default.
    """

    model_config = ConfigDict(frozen=True)

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None

    @field_validator("base_url", "model", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("LLM_BASE_URL must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> LlmSettings:
        if self.base_url and not self.model:
            raise ValueError("LLM_MODEL is required when LLM_BASE_URL is set")
        if self.model and not self.base_url:
            raise ValueError("LLM_BASE_URL is required when LLM_MODEL is set")
        return self

    @property
    def enabled(self) -> bool:
        return self.base_url is not None and self.model is not None
