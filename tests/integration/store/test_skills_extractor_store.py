"""The container's skills extractor against the local OpenAI-compatible stub server, its
answers cached in the real store (SQLite and PostgreSQL): recorded answers, an answer
slower than the deadline, a 500, invalid JSON; a restart that asks nothing; forget."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from src.adapters.skills.openai_extractor import OpenAISkillsExtractor
from src.adapters.sql.tables import skills_extractions
from src.application.skills import (
    SkillsAnswerInvalidError,
    SkillsExtractionError,
    SkillsExtractionTimeoutError,
)
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.skills.openai_stub import OpenAIStub, Reply, completion_with, recorded

MODEL = "qwen2.5:3b"
OFFER = "Airbus recherche un(e) Data Engineer : Python, SQL, Docker, anglais professionnel."
AIRBUS = ("Python", "SQL", "Docker", "anglais professionnel")
SLOW = 10.0  # seconds: far beyond any deadline here


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub()
    server.start()
    yield server
    server.stop()


Opener = Callable[..., Container]


@pytest.fixture
def open_llm(store_url: str, stub: OpenAIStub) -> Iterator[Opener]:
    """Opens the flywheel on the test's store with the extractor pointed at the stub;
    every container opened is closed at the end (a restart is a second one)."""
    opened: list[Container] = []

    def opener(**overrides: Any) -> Container:
        values: dict[str, Any] = {"llm_base_url": stub.base_url, "llm_model": MODEL}
        values.update(overrides)
        container = open_flywheel(make_settings(store_url, **values), migrate=True)
        opened.append(container)
        return container

    yield opener
    for container in opened:
        close_flywheel(container)


def extractor_of(container: Container) -> OpenAISkillsExtractor:
    extractor = container.skills_extractor()
    assert isinstance(extractor, OpenAISkillsExtractor)
    return extractor


def extract(container: Container, user: str, text: str = OFFER) -> tuple[str, ...]:
    """One extraction in a loop of its own, as each drain of the command line runs."""
    return asyncio.run(extractor_of(container).extract(user, "offer", text))


def rows(container: Container, user: str | None = None) -> int:
    query = select(func.count()).select_from(skills_extractions)
    if user is not None:
        query = query.where(skills_extractions.c.user_id == user)
    with container.engine().connect() as connection:
        return int(connection.execute(query).scalar_one())


def test_off_by_default_the_container_gives_none(flywheel: Container) -> None:
    assert flywheel.skills_extractor() is None


def test_a_recorded_answer_is_kept_and_a_restarted_worker_asks_nothing(
    open_llm: Opener, stub: OpenAIStub
) -> None:
    stub.reply(Reply(recorded("offer_airbus")))
    first = open_llm()
    extractor = extractor_of(first)
    assert extractor.timeout_seconds < first.settings().event_processing_timeout
    assert extract(first, "alice") == AIRBUS
    assert (len(stub.requests), rows(first, "alice")) == (1, 1)
    assert extract(first, "alice") == AIRBUS  # another loop, the same extractor
    close_flywheel(first)
    with pytest.raises(SkillsExtractionError, match="closed"):
        asyncio.run(extractor.extract("alice", "offer", "un autre texte"))

    restarted = open_llm()
    assert extract(restarted, "alice") == AIRBUS
    assert len(stub.requests) == 1  # the answer came from the store
    totals = extractor_of(restarted).totals()
    assert (totals.cache_hits, totals.cache_misses) == (1, 0)
    assert sum(totals.calls.values()) == 0


def test_an_answer_slower_than_the_deadline_is_a_timeout_and_nothing_is_kept(
    open_llm: Opener, stub: OpenAIStub
) -> None:
    stub.reply(Reply(recorded("offer_airbus"), delay=SLOW), Reply(recorded("offer_airbus")))
    container = open_llm(event_processing_timeout=2.0, llm_timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(SkillsExtractionTimeoutError, match=r"within 0\.5 s"):
        extract(container, "alice")
    assert time.monotonic() - started < SLOW / 2
    assert (len(stub.requests), rows(container)) == (1, 0)  # no retry by the client
    # The worker's next attempt asks again, and this time the answer is kept.
    assert extract(container, "alice") == AIRBUS
    assert (len(stub.requests), rows(container)) == (2, 1)
    assert extractor_of(container).totals().calls == {
        "ok": 1,
        "timeout": 1,
        "error": 0,
        "invalid": 0,
    }


def test_a_server_error_fails_the_attempt_once_and_nothing_is_kept(
    open_llm: Opener, stub: OpenAIStub
) -> None:
    stub.reply(Reply({"error": {"message": "model crashed"}}, status=500))
    container = open_llm()
    with pytest.raises(SkillsExtractionError, match="answered HTTP 500") as caught:
        extract(container, "alice")
    assert caught.value.outcome == "error"
    assert (len(stub.requests), rows(container)) == (1, 0)


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply(completion_with("Voici les compétences : Python, SQL.")), "invalid"),
        (Reply(completion_with('{"skills": "Python, SQL"}')), "invalid"),
        (Reply(b"{not json"), "error"),  # the endpoint's body itself, not the model's answer
    ],
    ids=["prose", "wrong-shape", "body-not-json"],
)
def test_invalid_json_fails_the_attempt_and_the_next_one_asks_again(
    open_llm: Opener, stub: OpenAIStub, reply: Reply, outcome: str
) -> None:
    stub.reply(reply, Reply(recorded("offer_airbus")))
    container = open_llm()
    with pytest.raises(SkillsExtractionError) as caught:
        extract(container, "alice")
    assert "\n" not in str(caught.value)  # one line, as ai_processing_error keeps it
    assert caught.value.outcome == outcome
    assert isinstance(caught.value, SkillsAnswerInvalidError) == (outcome == "invalid")
    assert rows(container) == 0
    assert extract(container, "alice") == AIRBUS
    assert (len(stub.requests), rows(container)) == (2, 1)


def test_forgetting_a_user_erases_what_the_model_read_for_them(
    open_llm: Opener, stub: OpenAIStub
) -> None:
    stub.default = Reply(recorded("offer_airbus"))
    container = open_llm()
    extract(container, "alice")
    extract(container, "alice", "Data Analyst : SQL, Power BI")
    extract(container, "bob")
    assert len(stub.requests) == 3

    report = container.erasure().forget("alice")

    assert report.skills_extractions == 2
    assert (rows(container, "alice"), rows(container, "bob")) == (0, 1)
    extract(container, "bob")
    assert len(stub.requests) == 3  # bob's answer is still kept
    extract(container, "alice")
    assert len(stub.requests) == 4  # alice's is gone: the model is asked again


def test_one_limit_for_every_loop_of_the_process(open_llm: Opener, stub: OpenAIStub) -> None:
    """The background worker's loop and a drain asked over HTTP share the extractor: its
    concurrency limit holds across both."""
    stub.default = Reply(recorded("offer_airbus"), delay=0.3)
    container = open_llm(llm_concurrency=2)
    extractor = extractor_of(container)
    results: list[object] = []

    def drain(name: str) -> None:
        async def three() -> list[tuple[str, ...]]:
            texts = [f"offre {name}{n}" for n in range(3)]
            return await asyncio.gather(*(extractor.extract("u", "offer", t) for t in texts))

        results.extend(asyncio.run(three()))

    threads = [threading.Thread(target=drain, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [AIRBUS] * 6
    assert (len(stub.requests), stub.most_in_flight) == (6, 2)


def test_closing_cancels_a_call_in_flight_as_a_failed_attempt(
    open_llm: Opener, stub: OpenAIStub
) -> None:
    stub.reply(Reply(recorded("offer_airbus"), delay=SLOW))
    container = open_llm()
    extractor = extractor_of(container)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            asyncio.run(extractor.extract("alice", "offer", OFFER))
        except BaseException as error:  # noqa: BLE001 - the test looks at what it was
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    while not stub.requests:
        time.sleep(0.01)
    started = time.monotonic()
    container.shutdown_resources()
    caller.join(SLOW)
    assert time.monotonic() - started < SLOW / 2
    (error,) = outcome
    assert isinstance(error, SkillsExtractionError)
    assert "closed while the call was in flight" in str(error)
    assert rows(container) == 0
