"""Skills read from an offer's or a CV's free text by a model behind any OpenAI-compatible
endpoint (Ollama, vLLM, the llama.cpp server), with the ``openai`` client.

The model is asked for ``{"skills": [string, ...]}`` through ``response_format`` (a strict
JSON schema named ``skills``, which these servers turn into a grammar), and the answer is
validated with pydantic all the same: a server may ignore the schema, a model may stop
mid-answer. Every way a call can end is an ordinary failure with a one-line message, so
the worker records it on the event and retries it later, like any other attempt.

Three bounds keep a slow model from holding up the queue:

- one deadline for the whole extraction, queue wait included, below the event's own
  processing budget (``asyncio.timeout``: the client's timeout bounds each network read,
  not a server that trickles its answer);
- no retry by the client (``max_retries=0``): the worker's retry, with its backoff and
  attempt count, is the only one;
- at most ``concurrency`` calls in flight, so a batch of offers never floods a local GPU.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import Counter

from openai import APIConnectionError, APIStatusError, APITimeoutError, AsyncOpenAI, OpenAIError
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import BaseModel, ConfigDict, ValidationError

from src.adapters.skills.llm_settings import LlmSettings
from src.application.skills import (
    OUTCOMES,
    ExtractionCache,
    ExtractionKey,
    ExtractionTotals,
    SkillsAnswerInvalidError,
    SkillsExtractionError,
    SkillsExtractionTimeoutError,
    TextKind,
    clean_skills,
)

logger = logging.getLogger(__name__)

# Part of the cache key: a new prompt (or schema) must not reuse the old prompt's answers.
PROMPT_VERSION = "skills-v1"
# Share of the event's processing budget the extraction may take; the rest is for the
# matching and the journey's own work.
BUDGET_SHARE = 0.8
# An offer is a page or two; beyond this the text is cut (the skills are named early).
MAX_TEXT_CHARS = 20_000
MAX_ANSWER_TOKENS = 1_024
# Upper bounds of the latency histogram, in seconds (Prometheus ``le`` buckets).
LATENCY_BOUNDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# Ollama and the llama.cpp server accept any key; the client insists on one.
NO_KEY = "not-needed"

_WHAT = {"offer": "a job offer", "cv": "a CV (résumé)"}
SYSTEM_PROMPT = (
    "You read {what} and list the professional skills it names: tools, programming "
    "languages, methods, spoken languages and soft skills. Answer with a JSON object "
    '{{"skills": [...]}}. Each item is one skill in the text\'s own words and language, '
    "one to four words, without level, years or duration. No duplicates. If the text names "
    'no skill, answer {{"skills": []}}.'
)


class SkillsAnswer(BaseModel):
    """The skills a text names, one short item each, in the text's own words."""

    # Its docstring becomes the schema's description, which the model reads: an object
    # with this list and nothing else is the only answer accepted.
    model_config = ConfigDict(extra="forbid", strict=True)

    skills: list[str]


RESPONSE_FORMAT: ResponseFormatJSONSchema = {
    "type": "json_schema",
    "json_schema": {
        "name": "skills",
        "strict": True,
        "schema": SkillsAnswer.model_json_schema(),
    },
}


class _Counters:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter({outcome: 0 for outcome in OUTCOMES})
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.latency_sum = 0.0
        self.latency_buckets = [0] * len(LATENCY_BOUNDS)
        self.cache_hits = 0
        self.cache_misses = 0

    def observe(self, outcome: str, seconds: float) -> None:
        self.calls[outcome] += 1
        self.latency_sum += seconds
        for index in range(bisect.bisect_left(LATENCY_BOUNDS, seconds), len(LATENCY_BOUNDS)):
            self.latency_buckets[index] += 1


class OpenAISkillsExtractor:
    """A ``SkillsExtractor`` on an OpenAI-compatible chat completions endpoint.

    ``budget_seconds`` is the event's processing budget (``EVENT_PROCESSING_TIMEOUT``);
    the extraction gives up after ``BUDGET_SHARE`` of it. Answers are kept in ``cache``
    per user, kind of text, model, prompt version and text, so an event processed again
    never calls the model again.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        budget_seconds: float,
        concurrency: int,
        cache: ExtractionCache,
    ) -> None:
        if budget_seconds <= 0:
            raise ValueError("budget_seconds must be positive")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.model = model
        self.timeout_seconds = budget_seconds * BUDGET_SHARE
        self._cache = cache
        self._semaphore = asyncio.Semaphore(concurrency)
        self._counters = _Counters()
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or NO_KEY,
            timeout=self.timeout_seconds,
            max_retries=0,
        )

    @classmethod
    def from_settings(
        cls,
        settings: LlmSettings,
        *,
        budget_seconds: float,
        concurrency: int,
        cache: ExtractionCache,
    ) -> OpenAISkillsExtractor | None:
        """The extractor the settings describe, or None when they leave it off."""
        if settings.base_url is None or settings.model is None:
            return None
        return cls(
            base_url=settings.base_url,
            model=settings.model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            budget_seconds=budget_seconds,
            concurrency=concurrency,
            cache=cache,
        )

    async def extract(self, user_id: str, kind: TextKind, text: str) -> tuple[str, ...]:
        text = text.strip()[:MAX_TEXT_CHARS]
        if not text:
            return ()
        key = ExtractionKey.of(user_id, kind, self.model, PROMPT_VERSION, text)
        cached = self._cache.get(key)
        if cached is not None:
            self._counters.cache_hits += 1
            return cached
        self._counters.cache_misses += 1
        skills = await self._ask(kind, text, key.input_sha256[:12])
        self._cache.put(key, skills)
        return skills

    def totals(self) -> ExtractionTotals:
        counters = self._counters
        return ExtractionTotals(
            calls=dict(counters.calls),
            prompt_tokens=counters.prompt_tokens,
            completion_tokens=counters.completion_tokens,
            latency_sum_seconds=counters.latency_sum,
            latency_bounds=LATENCY_BOUNDS,
            latency_buckets=tuple(counters.latency_buckets),
            cache_hits=counters.cache_hits,
            cache_misses=counters.cache_misses,
        )

    async def aclose(self) -> None:
        """Close the client's connections (at the worker's shutdown)."""
        await self._client.close()

    async def _ask(self, kind: TextKind, text: str, text_hash: str) -> tuple[str, ...]:
        started = time.monotonic()
        outcome = "error"
        try:
            skills = await self._call(kind, text)
            outcome = "ok"
            return skills
        except SkillsExtractionError as error:
            outcome = error.outcome
            raise
        finally:
            elapsed = time.monotonic() - started
            self._counters.observe(outcome, elapsed)
            logger.info(
                "skills extraction %s (model %s, %s text %s, %.0f ms)",
                outcome,
                self.model,
                kind,
                text_hash,
                elapsed * 1000,
            )

    async def _call(self, kind: TextKind, text: str) -> tuple[str, ...]:
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SYSTEM_PROMPT.format(what=_WHAT[kind])},
            {"role": "user", "content": text},
        ]
        try:
            async with asyncio.timeout(self.timeout_seconds), self._semaphore:
                response = await self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    response_format=RESPONSE_FORMAT,
                    temperature=0,
                    max_tokens=MAX_ANSWER_TOKENS,
                )
        except (TimeoutError, APITimeoutError):
            raise SkillsExtractionTimeoutError(
                f"skills extractor: no answer from {self.model} within {self.timeout_seconds:.1f} s"
            ) from None
        except APIStatusError as error:
            raise SkillsExtractionError(
                f"skills extractor: {self.model} answered HTTP {error.status_code}"
            ) from None
        except APIConnectionError as error:
            cause = type(error.__cause__ or error).__name__
            raise SkillsExtractionError(
                f"skills extractor: cannot reach the LLM endpoint ({cause})"
            ) from None
        except OpenAIError as error:
            raise SkillsExtractionError(
                f"skills extractor: {type(error).__name__} from {self.model}"
            ) from None
        except ValueError:  # the client parses the body as JSON before it is ours
            raise SkillsExtractionError(
                f"skills extractor: the endpoint of {self.model} answered a body that is not JSON"
            ) from None
        return self._read(response)

    def _read(self, response: ChatCompletion) -> tuple[str, ...]:
        usage = response.usage
        if usage is not None:
            self._counters.prompt_tokens += usage.prompt_tokens or 0
            self._counters.completion_tokens += usage.completion_tokens or 0
        # The client does not validate the body: a server may send any JSON object.
        content: str | None = None
        reason: str = "no choice"
        try:
            choice = response.choices[0]
            content, reason = choice.message.content, choice.finish_reason
        except (AttributeError, IndexError, TypeError):
            pass
        if not isinstance(content, str) or not content:
            raise SkillsAnswerInvalidError(
                f"skills extractor: empty answer from {self.model} ({reason})"
            )
        try:
            answer = SkillsAnswer.model_validate_json(content)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "answer"
            message = " ".join(f"{where}: {first['msg']}".split())
            raise SkillsAnswerInvalidError(
                f'skills extractor: {self.model} did not answer {{"skills": [string, ...]}} '
                f"({message})"
            ) from None
        return clean_skills(answer.skills, field="skills")
