"""Where the LLM skills extractor finds its model: off unless both URL and model are set."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator


def blank_is_unset(value: object) -> object:
    """An empty line in ``.env`` (``LLM_MODEL=``) means "not set", as leaving it out does."""
    return None if isinstance(value, str) and not value.strip() else value


def check_base_url(value: str | None) -> str | None:
    """``LLM_BASE_URL`` as the ``openai`` client needs it: an http(s) URL, or unset."""
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError(
            "LLM_BASE_URL must start with http:// or https:// "
            "(e.g. http://localhost:11434/v1 for Ollama)"
        )
    return value


def check_pair(base_url: str | None, model: str | None) -> None:
    """Both or neither: one without the other is a mistake, refused naming the missing
    one, rather than a worker that silently never extracts."""
    if base_url and not model:
        raise ValueError("LLM_MODEL is required when LLM_BASE_URL is set (e.g. qwen2.5:3b)")
    if model and not base_url:
        raise ValueError("LLM_BASE_URL is required when LLM_MODEL is set")


class LlmSettings(BaseModel):
    """``LLM_BASE_URL``, ``LLM_MODEL`` and ``LLM_API_KEY``, validated.

    The extractor is off when neither URL nor model is set. The key is optional:
    Ollama, vLLM and the llama.cpp server need none by default.
    """

    model_config = ConfigDict(frozen=True)

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None

    @field_validator("base_url", "model", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return blank_is_unset(value)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_base_url(value)

    @model_validator(mode="after")
    def _both_or_neither(self) -> LlmSettings:
        check_pair(self.base_url, self.model)
        return self

    @property
    def enabled(self) -> bool:
        return self.base_url is not None and self.model is not None
