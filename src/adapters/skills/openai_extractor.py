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

The calls run on the extractor's own event loop, in a thread it starts at its first call.
One process drains its queue on more than one loop (the background worker's, a drain
asked over HTTP, each ``asyncio.run`` of the command line), and an ``AsyncOpenAI``
client, its connection pool and a semaphore all belong to the loop that first used
them: on a loop of its own, one client and one limit serve every caller, whatever loop
it runs on. A caller that gives up (the event's timeout) cancels the call it waits for.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any, TypeVar

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
# How long ``close`` waits for the calls in flight to be cancelled and the client closed.
CLOSE_SECONDS = 5.0

T = TypeVar("T")

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
    """Written from the extractor's loop and its callers' (cache hits), read by a scrape:
    under a lock, so a scrape never sees a call counted without its latency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter({outcome: 0 for outcome in OUTCOMES})
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.latency_sum = 0.0
        self.latency_buckets = [0] * len(LATENCY_BOUNDS)
        self.cache_hits = 0
        self.cache_misses = 0

    def observe(self, outcome: str, seconds: float) -> None:
        with self._lock:
            self.calls[outcome] += 1
            self.latency_sum += seconds
            for index in range(bisect.bisect_left(LATENCY_BOUNDS, seconds), len(LATENCY_BOUNDS)):
                self.latency_buckets[index] += 1

    def looked_up(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.cache_hits += 1
            else:
                self.cache_misses += 1

    def used(self, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def totals(self) -> ExtractionTotals:
        with self._lock:
            return ExtractionTotals(
                calls=dict(self.calls),
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                latency_sum_seconds=self.latency_sum,
                latency_bounds=LATENCY_BOUNDS,
                latency_buckets=tuple(self.latency_buckets),
                cache_hits=self.cache_hits,
                cache_misses=self.cache_misses,
            )


class OpenAISkillsExtractor:
    """A ``SkillsExtractor`` on an OpenAI-compatible chat completions endpoint.

    ``budget_seconds`` is the event's processing budget (``EVENT_PROCESSING_TIMEOUT``);
    the extraction gives up after ``timeout_seconds``, which must be below it, or by
    default after ``BUDGET_SHARE`` of it. Answers are kept in ``cache`` per user, kind of
    text, model, prompt version and text, so an event processed again never calls the
    model again. The cache is a store: it is read and written in a thread, off the
    caller's loop.
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
        timeout_seconds: float | None = None,
    ) -> None:
        if budget_seconds <= 0:
            raise ValueError("budget_seconds must be positive")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if timeout_seconds is not None and not 0 < timeout_seconds < budget_seconds:
            raise ValueError("timeout_seconds must be positive and below budget_seconds")
        self.model = model
        self.timeout_seconds = timeout_seconds or budget_seconds * BUDGET_SHARE
        self._cache = cache
        self._semaphore = asyncio.Semaphore(concurrency)  # used on the own loop only
        self._counters = _Counters()
        self._start_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
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
        timeout_seconds: float | None = None,
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
            timeout_seconds=timeout_seconds,
        )

    async def extract(self, user_id: str, kind: TextKind, text: str) -> tuple[str, ...]:
        text = text.strip()[:MAX_TEXT_CHARS]
        if not text:
            return ()
        key = ExtractionKey.of(user_id, kind, self.model, PROMPT_VERSION, text)
        cached = await asyncio.to_thread(self._cache.get, key)
        self._counters.looked_up(hit=cached is not None)
        if cached is not None:
            return cached
        skills = await self._on_own_loop(self._ask(kind, text, key.input_sha256[:12]))
        await asyncio.to_thread(self._cache.put, key, skills)
        return skills

    def totals(self) -> ExtractionTotals:
        return self._counters.totals()

    def close(self) -> None:
        """Cancel the calls in flight, close the client's connections and stop the own
        loop (at shutdown); idempotent. A call asked afterwards fails, as an attempt."""
        with self._start_lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return  # never called: the client opened no connection
        try:
            asyncio.run_coroutine_threadsafe(self._shut_down(), loop).result(CLOSE_SECONDS)
        except Exception as error:  # noqa: BLE001 - shutting down goes on whatever happens
            logger.warning("skills extractor: closing the client failed (%s)", error)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CLOSE_SECONDS)
            if not thread.is_alive():
                loop.close()

    async def aclose(self) -> None:
        """``close`` from async code, without blocking the caller's loop."""
        await asyncio.to_thread(self.close)

    async def _on_own_loop(self, call: Coroutine[Any, Any, T]) -> T:
        try:
            loop = self._own_loop()
        except SkillsExtractionError:
            call.close()
            raise
        running = asyncio.run_coroutine_threadsafe(call, loop)
        try:
            return await asyncio.wrap_future(running)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if caller is not None and caller.cancelling():
                raise  # the caller gave up (its own timeout): the call was cancelled with it
            # ``close`` cancelled it: an ordinary failed attempt, retried by the worker.
            raise SkillsExtractionError(
                "skills extractor: closed while the call was in flight (the worker is stopping)"
            ) from None

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._closed:
                raise SkillsExtractionError("skills extractor: closed (the worker is stopping)")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="skills-extractor", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _shut_down(self) -> None:
        current = asyncio.current_task()
        calls = [task for task in asyncio.all_tasks() if task is not current]
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
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
            self._counters.used(usage.prompt_tokens or 0, usage.completion_tokens or 0)
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
