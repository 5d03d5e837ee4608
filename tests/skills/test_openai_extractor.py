"""The LLM skills extractor against a local OpenAI-compatible stub server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from src.adapters.skills.llm_settings import LlmSettings
from src.adapters.skills.memory_extraction_cache import InMemoryExtractionCache
from src.adapters.skills.openai_extractor import BUDGET_SHARE, OpenAISkillsExtractor
from src.application.skills import (
    SkillsAnswerInvalidError,
    SkillsExtractionError,
    SkillsExtractionTimeoutError,
)
from tests.skills.openai_stub import OpenAIStub, Reply, completion_with, recorded

MODEL = "qwen2.5:7b-instruct"
OFFER = "Airbus recherche un(e) Data Engineer : Python, SQL, Docker, anglais professionnel."
SLOW = 10.0  # seconds: an answer far slower than any deadline here
T = TypeVar("T")


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub()
    server.start()
    yield server
    server.stop()


def make(
    stub: OpenAIStub,
    cache: InMemoryExtractionCache | None = None,
    *,
    budget: float = 5.0,
    concurrency: int = 4,
    api_key: str | None = None,
) -> OpenAISkillsExtractor:
    return OpenAISkillsExtractor(
        base_url=stub.base_url,
        model=MODEL,
        api_key=api_key,
        budget_seconds=budget,
        concurrency=concurrency,
        cache=cache if cache is not None else InMemoryExtractionCache(),
    )


def run(
    build: Callable[[], OpenAISkillsExtractor], use: Callable[[OpenAISkillsExtractor], Awaitable[T]]
) -> T:
    """Builds the extractor inside the loop that uses it (its client binds to that loop)."""

    async def main() -> T:
        extractor = build()
        try:
            return await use(extractor)
        finally:
            await extractor.aclose()

    return asyncio.run(main())


def test_a_recorded_answer_gives_the_skills(stub: OpenAIStub) -> None:
    stub.reply(Reply(recorded("offer_airbus")))
    skills, totals = run(
        lambda: make(stub, api_key="sk-local"),
        lambda e: _with_totals(e, e.extract("u1", "offer", OFFER)),
    )
    assert skills == ("Python", "SQL", "Docker", "anglais professionnel")
    assert totals.calls == {"ok": 1, "timeout": 0, "error": 0, "invalid": 0}
    assert (totals.prompt_tokens, totals.completion_tokens) == (148, 21)
    assert totals.latency_buckets[-1] == 1
    assert 0 < totals.latency_sum_seconds < 5


def test_the_request_asks_for_the_skills_schema_without_retries(stub: OpenAIStub) -> None:
    stub.reply(Reply(recorded("offer_airbus")))
    run(lambda: make(stub, api_key="sk-local"), lambda e: e.extract("u1", "offer", OFFER))
    (request,) = stub.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-local"
    assert request.headers.get("x-stainless-retry-count", "0") == "0"
    body = request.body
    assert body["model"] == MODEL
    assert body["messages"][-1] == {"role": "user", "content": OFFER}
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "skills"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["required"] == ["skills"]
    assert schema["properties"]["skills"] == {
        "items": {"type": "string"},
        "title": "Skills",
        "type": "array",
    }
    assert schema["additionalProperties"] is False


def test_the_answer_is_cleaned_like_an_apps_list(stub: OpenAIStub) -> None:
    stub.reply(Reply(recorded("cv_with_repeats")))
    skills = run(lambda: make(stub), lambda e: e.extract("u1", "cv", "Analyste junior ..."))
    assert skills == ("Python", "Excel", "automatisation de rapports")


def test_the_same_text_again_is_read_from_the_cache(stub: OpenAIStub) -> None:
    cache = InMemoryExtractionCache()
    stub.default = Reply(recorded("offer_airbus"))

    async def twice(extractor: OpenAISkillsExtractor) -> tuple[object, ...]:
        first = await extractor.extract("u1", "offer", OFFER)
        again = await extractor.extract("u1", "offer", f"  {OFFER}\n")
        return first, again, extractor.totals()

    first, again, totals = run(lambda: make(stub, cache), twice)
    assert first == again
    assert len(stub.requests) == 1
    assert (totals.cache_hits, totals.cache_misses) == (1, 1)  # type: ignore[attr-defined]
    # Another extractor on the same cache (a restarted worker) does not ask either.
    run(lambda: make(stub, cache), lambda e: e.extract("u1", "offer", OFFER))
    assert len(stub.requests) == 1


def test_another_model_user_or_kind_of_text_asks_again(stub: OpenAIStub) -> None:
    cache = InMemoryExtractionCache()
    stub.default = Reply(recorded("offer_airbus"))

    async def variants(extractor: OpenAISkillsExtractor) -> None:
        await extractor.extract("u1", "offer", OFFER)
        await extractor.extract("u2", "offer", OFFER)
        await extractor.extract("u1", "cv", OFFER)

    run(lambda: make(stub, cache), variants)
    assert len(stub.requests) == 3
    other_model = OpenAISkillsExtractor(
        base_url=stub.base_url, model="llama3.1:8b", budget_seconds=5, concurrency=1, cache=cache
    )
    run(lambda: other_model, lambda e: e.extract("u1", "offer", OFFER))
    assert len(stub.requests) == 4


def test_forgetting_a_user_erases_their_entries_only(stub: OpenAIStub) -> None:
    cache = InMemoryExtractionCache()
    stub.default = Reply(recorded("offer_airbus"))

    async def both(extractor: OpenAISkillsExtractor) -> None:
        await extractor.extract("u1", "offer", OFFER)
        await extractor.extract("u2", "offer", OFFER)

    run(lambda: make(stub, cache), both)
    assert cache.forget_user("u1") == 1
    run(lambda: make(stub, cache), both)
    assert len(stub.requests) == 3  # u1 asked again, u2 still cached


def test_an_answer_slower_than_the_deadline_is_a_timeout(stub: OpenAIStub) -> None:
    stub.reply(Reply(recorded("offer_airbus"), delay=SLOW))
    cache = InMemoryExtractionCache()

    async def timed(extractor: OpenAISkillsExtractor) -> tuple[BaseException, float]:
        started = time.monotonic()
        with pytest.raises(SkillsExtractionTimeoutError) as caught:
            await extractor.extract("u1", "offer", OFFER)
        return caught.value, time.monotonic() - started

    error, elapsed = run(lambda: make(stub, cache, budget=0.5), timed)
    assert "no answer from qwen2.5:7b-instruct within 0.4 s" in str(error)
    assert elapsed < SLOW / 2  # it gave up; it did not wait for the answer
    assert len(stub.requests) == 1  # and the client did not retry
    assert len(cache) == 0


def test_the_deadline_counts_the_wait_for_a_slot(stub: OpenAIStub) -> None:
    # One slot, a deadline of 2 s, answers that take 1.2 s: the first call answers in
    # time; the second waits 1.2 s for the slot, then 1.2 s for its answer, past its
    # deadline, which ran from the moment it asked (not from when it got the slot).
    stub.default = Reply(recorded("offer_airbus"), delay=1.2)

    async def two(extractor: OpenAISkillsExtractor) -> list[object]:
        texts = ("offre A", "offre B")
        return await asyncio.gather(
            *(extractor.extract("u1", "offer", t) for t in texts), return_exceptions=True
        )

    first, second = run(lambda: make(stub, budget=2.5, concurrency=1), two)
    assert first == ("Python", "SQL", "Docker", "anglais professionnel")
    assert isinstance(second, SkillsExtractionTimeoutError)
    assert len(stub.requests) == 2


def test_a_server_error_fails_once_without_retry(stub: OpenAIStub) -> None:
    stub.reply(Reply({"error": {"message": "model crashed"}}, status=500))
    stub.default = Reply(recorded("offer_airbus"))
    with pytest.raises(SkillsExtractionError, match="answered HTTP 500") as caught:
        run(lambda: make(stub), lambda e: e.extract("u1", "offer", OFFER))
    assert caught.value.outcome == "error"
    assert len(stub.requests) == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("Voici les compétences : Python, SQL, Docker.", "Invalid JSON"),
        ('{"competences": ["Python"]}', "skills: Field required"),
        ('{"skills": "Python, SQL"}', "skills: Input should be a valid array"),
        ('{"skills": ["Python", 3]}', "skills.1: Input should be a valid string"),
        ('{"skills": ["Python"], "level": "senior"}', "level: Extra inputs are not permitted"),
    ],
)
def test_an_answer_that_fails_the_schema_is_invalid(
    stub: OpenAIStub, content: str, problem: str
) -> None:
    stub.reply(Reply(completion_with(content)))
    cache = InMemoryExtractionCache()

    async def attempt(extractor: OpenAISkillsExtractor) -> object:
        with pytest.raises(SkillsAnswerInvalidError) as caught:
            await extractor.extract("u1", "offer", OFFER)
        return caught.value, extractor.totals()

    error, totals = run(lambda: make(stub, cache), attempt)  # type: ignore[misc]
    assert problem in str(error)
    assert "\n" not in str(error)
    assert totals.calls["invalid"] == 1
    assert totals.prompt_tokens == 50  # an invalid answer still cost its tokens
    assert len(cache) == 0


def test_an_answer_cut_short_is_invalid(stub: OpenAIStub) -> None:
    stub.reply(Reply(recorded("cut_short")))
    with pytest.raises(SkillsAnswerInvalidError, match="Invalid JSON"):
        run(lambda: make(stub), lambda e: e.extract("u1", "offer", OFFER))


def test_a_body_that_is_not_json_is_an_error(stub: OpenAIStub) -> None:
    stub.reply(Reply(b"<html>502 Bad Gateway</html>"))
    with pytest.raises(SkillsExtractionError, match="not JSON") as caught:
        run(lambda: make(stub), lambda e: e.extract("u1", "offer", OFFER))
    assert caught.value.outcome == "error"


@pytest.mark.parametrize("body", [{}, {"choices": []}, {"choices": "none"}, {"choices": [{}]}])
def test_a_json_body_that_is_no_completion_is_invalid(
    stub: OpenAIStub, body: dict[str, object]
) -> None:
    stub.reply(Reply(body))
    with pytest.raises(SkillsAnswerInvalidError, match="empty answer"):
        run(lambda: make(stub), lambda e: e.extract("u1", "offer", OFFER))


def test_an_unreachable_endpoint_is_an_error(stub: OpenAIStub) -> None:
    base_url = stub.base_url
    stub.stop()
    extractor_args = {"budget_seconds": 2.0, "concurrency": 1, "cache": InMemoryExtractionCache()}
    with pytest.raises(SkillsExtractionError, match="cannot reach the LLM endpoint") as caught:
        run(
            lambda: OpenAISkillsExtractor(base_url=base_url, model=MODEL, **extractor_args),  # type: ignore[arg-type]
            lambda e: e.extract("u1", "offer", OFFER),
        )
    assert "127.0.0.1" not in str(caught.value)


def test_no_more_calls_in_flight_than_the_limit(stub: OpenAIStub) -> None:
    stub.default = Reply(recorded("offer_airbus"), delay=0.3)

    async def five(extractor: OpenAISkillsExtractor) -> list[tuple[str, ...]]:
        texts = [f"offre {n}" for n in range(5)]
        return await asyncio.gather(*(extractor.extract("u1", "offer", t) for t in texts))

    results = run(lambda: make(stub, concurrency=2), five)
    assert len(results) == 5
    assert len(stub.requests) == 5
    assert stub.most_in_flight == 2


def test_an_empty_text_asks_nothing(stub: OpenAIStub) -> None:
    assert run(lambda: make(stub), lambda e: e.extract("u1", "cv", "   \n")) == ()
    assert stub.requests == []


def test_the_deadline_is_a_share_of_the_events_budget(stub: OpenAIStub) -> None:
    extractor = make(stub, budget=30)
    assert extractor.timeout_seconds == 30 * BUDGET_SHARE < 30
    with pytest.raises(ValueError, match="budget_seconds"):
        make(stub, budget=0)
    with pytest.raises(ValueError, match="concurrency"):
        make(stub, concurrency=0)


def test_settings_leave_it_off_unless_url_and_model_are_set() -> None:
    cache = InMemoryExtractionCache()
    assert not LlmSettings().enabled
    assert (
        OpenAISkillsExtractor.from_settings(
            LlmSettings(), budget_seconds=30, concurrency=2, cache=cache
        )
        is None
    )
    assert not LlmSettings(base_url="", model=" ").enabled
    settings = LlmSettings(base_url="http://localhost:11434/v1", model=MODEL)
    assert settings.enabled
    extractor = OpenAISkillsExtractor.from_settings(
        settings, budget_seconds=30, concurrency=2, cache=cache
    )
    assert extractor is not None
    assert extractor.model == MODEL


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"base_url": "http://localhost:11434/v1"}, "LLM_MODEL is required"),
        ({"model": MODEL}, "LLM_BASE_URL is required"),
        ({"base_url": "localhost:11434", "model": MODEL}, "LLM_BASE_URL must start with http"),
    ],
)
def test_half_set_or_malformed_settings_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LlmSettings(**fields)


def test_the_api_key_never_shows_in_the_settings_repr() -> None:
    settings = LlmSettings(base_url="https://llm.example/v1", model=MODEL, api_key="sk-secret")
    assert "sk-secret" not in repr(settings)


async def _with_totals(extractor: OpenAISkillsExtractor, call: Awaitable[T]) -> tuple[T, object]:
    result = await call
    return result, extractor.totals()
