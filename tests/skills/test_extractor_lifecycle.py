"""The extractor's own deadline and its life: one extractor for every loop of a process,
closed once at shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from src.adapters.skills.memory_extraction_cache import InMemoryExtractionCache
from src.adapters.skills.openai_extractor import OpenAISkillsExtractor
from src.application.skills import SkillsExtractionError
from tests.skills.openai_stub import OpenAIStub, Reply, recorded

MODEL = "qwen2.5:3b"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub()
    server.start()
    yield server
    server.stop()


def threads() -> int:
    """The extractors' threads running now (other tests' extractors may have left theirs)."""
    return [thread.name for thread in threading.enumerate()].count("skills-extractor")


def make(
    stub: OpenAIStub, *, budget_seconds: float = 30, timeout_seconds: float | None = None
) -> OpenAISkillsExtractor:
    return OpenAISkillsExtractor(
        base_url=stub.base_url,
        model=MODEL,
        budget_seconds=budget_seconds,
        concurrency=2,
        cache=InMemoryExtractionCache(),
        timeout_seconds=timeout_seconds,
    )


def test_a_timeout_of_its_own_must_stay_below_the_events_budget(stub: OpenAIStub) -> None:
    assert make(stub, timeout_seconds=12.5).timeout_seconds == 12.5
    for refused in (30, 31, 0, -1):
        with pytest.raises(ValueError, match="timeout_seconds must be positive and below"):
            make(stub, timeout_seconds=refused)


def test_one_extractor_serves_loop_after_loop_then_closes_once(stub: OpenAIStub) -> None:
    stub.default = Reply(recorded("offer_airbus"))
    extractor = make(stub)
    before = threads()
    for text in ("offre A", "offre B", "offre C"):  # three loops, as three CLI drains
        assert asyncio.run(extractor.extract("u1", "offer", text))[0] == "Python"
    assert len(stub.requests) == 3
    assert threads() == before + 1  # one thread, started by the first call, for every loop

    extractor.close()
    extractor.close()  # idempotent

    assert threads() == before
    with pytest.raises(SkillsExtractionError, match="closed"):
        asyncio.run(extractor.extract("u1", "offer", "offre D"))
    assert len(stub.requests) == 3
    # What it had read is still read from the cache, which needs no model.
    assert asyncio.run(extractor.extract("u1", "offer", "offre A"))[0] == "Python"


def test_closing_an_extractor_never_used_starts_nothing(stub: OpenAIStub) -> None:
    before = threads()
    extractor = make(stub)
    extractor.close()
    assert threads() == before
    assert stub.requests == []
