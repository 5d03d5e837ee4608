"""The skills extractor inside the real worker, on each store: an analyser that reads an
offer's free text through the container's extractor (as the skills-gap analyser does).
A model's failure is an ordinary failed attempt, recorded in ``ai_processing_error`` and
retried by the worker; re-processing never asks the model again; after ``forget`` no
event, error or cached answer of the user is left."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from dependency_injector import providers
from sqlalchemy import func, select

from src.adapters.sql.tables import events, skills_extractions
from src.application.ports.inbox import RequeueSelection, StoredEvent
from src.application.skills import SkillsExtractor
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.skills.openai_stub import OpenAIStub, Reply, completion_with, recorded

MODEL = "qwen2.5:3b"
OFFER = "Airbus recherche un(e) Data Engineer : Python, SQL, Docker, anglais professionnel."


class OfferTextAnalyser:
    """Reads the skills of an offer sent as text; what it read, by user."""

    def __init__(self, extractor: SkillsExtractor) -> None:
        self._extractor = extractor
        self.read: dict[str, tuple[str, ...]] = {}

    async def analyse(self, event: StoredEvent) -> None:
        text = event.payload.get("offer_text")
        if isinstance(text, str):
            skills = await self._extractor.extract(event.user_id, "offer", text)
            self.read[event.user_id] = skills


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(store_url: str, stub: OpenAIStub) -> Iterator[tuple[Container, OfferTextAnalyser]]:
    settings = make_settings(
        store_url,
        llm_base_url=stub.base_url,
        llm_model=MODEL,
        event_processing_timeout=3.0,
        llm_timeout_seconds=0.5,
        # A failed event waits: each drain below is one attempt.
        event_retry_backoff_seconds=3600,
    )
    container = open_flywheel(settings, migrate=True)
    extractor = container.skills_extractor()
    assert extractor is not None
    analyser = OfferTextAnalyser(extractor)
    container.analysers.override(providers.Object([analyser]))
    try:
        yield container, analyser
    finally:
        close_flywheel(container)


def emit(container: Container, user: str, text: str) -> None:
    container.ingestion().publish(
        [
            {
                "event_type": "job_offer.analyzed",
                "app_source": "phoenix-letters",
                "user_id": user,
                "payload": {"offer_text": text},
            }
        ]
    )


def drain(container: Container) -> None:
    asyncio.run(container.processor().drain())


def retry_failed(container: Container) -> None:
    assert container.admin().force_reprocess(RequeueSelection(status="failed")) >= 1


def rows_of(container: Container, user: str) -> list[dict[str, Any]]:
    query = select(events.c.status, events.c.attempts, events.c.ai_processing_error).where(
        events.c.user_id == user
    )
    with container.engine().connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def cached(container: Container, user: str) -> int:
    query = select(func.count()).where(skills_extractions.c.user_id == user)
    with container.engine().connect() as connection:
        return int(connection.execute(query).scalar_one())


@pytest.mark.parametrize(
    ("reply", "recorded_error"),
    [
        (
            Reply(completion_with('{"skills": "Python, SQL"}')),
            'SkillsAnswerInvalidError: skills extractor: qwen2.5:3b did not answer {"skills": '
            "[string, ...]} (skills: Input should be a valid array)",
        ),
        (
            Reply(recorded("offer_airbus"), delay=10.0),
            "SkillsExtractionTimeoutError: skills extractor: no answer from qwen2.5:3b "
            "within 0.5 s",
        ),
        (
            Reply({"error": {"message": "model crashed"}}, status=500),
            "SkillsExtractionError: skills extractor: qwen2.5:3b answered HTTP 500",
        ),
    ],
    ids=["invalid", "slow", "500"],
)
def test_a_failed_extraction_is_a_failed_attempt_then_the_retry_reads_the_skills(
    world: tuple[Container, OfferTextAnalyser],
    stub: OpenAIStub,
    reply: Reply,
    recorded_error: str,
) -> None:
    container, analyser = world
    stub.reply(reply, Reply(recorded("offer_airbus")))
    emit(container, "alice", OFFER)

    drain(container)

    assert rows_of(container, "alice") == [
        {"status": "failed", "attempts": 1, "ai_processing_error": recorded_error}
    ]
    assert (analyser.read, cached(container, "alice")) == ({}, 0)

    retry_failed(container)
    drain(container)

    assert analyser.read == {"alice": ("Python", "SQL", "Docker", "anglais professionnel")}
    (row,) = rows_of(container, "alice")
    assert row["status"] == "processed"
    assert (len(stub.requests), cached(container, "alice")) == (2, 1)


def test_reprocessing_never_asks_the_model_again_and_forget_leaves_no_trace(
    world: tuple[Container, OfferTextAnalyser], stub: OpenAIStub
) -> None:
    container, analyser = world
    stub.reply(Reply(completion_with("pas du JSON")))
    stub.default = Reply(recorded("offer_airbus"))
    emit(container, "alice", OFFER)
    emit(container, "bob", OFFER)
    drain(container)  # alice's call fails, bob's answers
    retry_failed(container)
    drain(container)
    assert len(stub.requests) == 3

    with container.engine().connect() as connection:
        ids = tuple(connection.execute(select(events.c.id)).scalars())
    assert container.admin().force_reprocess(RequeueSelection(event_ids=ids)) == 2
    drain(container)

    assert len(stub.requests) == 3  # both answers came from the store
    assert set(analyser.read) == {"alice", "bob"}
    totals = container.skills_extractor().totals()  # type: ignore[union-attr]
    assert (totals.cache_hits, totals.calls["ok"], totals.calls["invalid"]) == (2, 2, 1)

    report = container.erasure().forget("alice")

    assert (report.events, report.skills_extractions) == (1, 1)
    assert rows_of(container, "alice") == []  # its failed attempt's error went with it
    assert cached(container, "alice") == 0
    assert (len(rows_of(container, "bob")), cached(container, "bob")) == (1, 1)
