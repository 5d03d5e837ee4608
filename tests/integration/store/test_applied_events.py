"""On SQLite and PostgreSQL, a source event counts once in its user's journey: re-folded,
force-reprocessed, saved but not acknowledged, or folded by two workers at once. The
store holds the (user, event) pairs unique, in the commit that saves the journeys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from eventsourcing.persistence import IntegrityError
from sqlalchemy import delete, func, select, text

from src.adapters.sql.eventsourcing_env import eventsourcing_env
from src.adapters.sql.tables import applied_events, journey_entries
from src.adapters.sqlalchemy_journey_history import SqlAlchemyJourneyHistory
from src.application.journeys import FoldResult, JourneyApplication, SourceEvent
from src.application.ports.inbox import RequeueSelection
from src.application.ports.journeys import AppliedEvent, AppliedEvents, BatchWrites
from src.application.ports.read_models import ReadModelChanges
from src.application.read_model_changes import PROJECTION_NAME
from src.domain.apps import default_catalogue
from src.domain.user_journey import UserJourney
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.cli.commands import main
from tests.conftest import make_settings
from tests.fakes import FakeAppliedEvents, fake_journeys

AT = datetime(2026, 1, 1, tzinfo=UTC)


def cv(n: int, user: str = "u1") -> SourceEvent:
    return SourceEvent(n, f"hash-{n}", "cv.uploaded", "phoenix-cv", user, AT + timedelta(n))


def drain(container: Container) -> None:
    asyncio.run(container.processor().drain())


def publish(container: Container, user: str, *keys: str) -> None:
    container.ingestion().publish(
        [
            {
                "event_type": "letter.generated",
                "app_source": "phoenix-letters",
                "user_id": user,
                "idempotency_key": key,
            }
            for key in keys
        ]
    )


def counted(container: Container, user: str) -> dict[str, int]:
    (journey,) = container.journeys().load_journeys([user]).values()
    assert journey is not None
    return journey.activity_by_type


def everything_again(container: Container) -> int:
    since = container.clock().now() - timedelta(hours=1)
    return container.admin().force_reprocess(RequeueSelection(since=since))


# --- the port's contract: the fake, and the store through real saves -----------------


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def folding(request: pytest.FixtureRequest) -> Iterator[tuple[JourneyApplication, AppliedEvents]]:
    if request.param == "fake":
        applied = FakeAppliedEvents()
        journeys = fake_journeys(default_catalogue(), applied_events=applied)
        yield journeys, applied
        journeys.close()
        return
    url = str(
        request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    )
    container = open_flywheel(make_settings(url), migrate=True)
    try:
        yield container.journeys(), container.applied_events()
    finally:
        close_flywheel(container)


def test_the_events_a_save_applied_are_known_applied_and_no_other(
    folding: tuple[JourneyApplication, AppliedEvents],
) -> None:
    journeys, applied = folding
    assert applied.already_applied([AppliedEvent("u1", "hash-1")]) == set()
    journeys.fold([cv(1), cv(2), cv(3, "u2")])
    asked = [
        AppliedEvent("u1", "hash-1"),
        AppliedEvent("u1", "hash-2"),
        AppliedEvent("u2", "hash-3"),
        AppliedEvent("u2", "hash-1"),  # another user's hash
        AppliedEvent("u1", "hash-3"),
        AppliedEvent("u3", "hash-9"),
    ]
    assert applied.already_applied(asked) == set(asked[:3])
    assert applied.already_applied([]) == set()


def test_a_save_of_a_pair_applied_already_fails_whole(
    folding: tuple[JourneyApplication, AppliedEvents],
) -> None:
    journeys, applied = folding
    journeys.fold([cv(1)])
    bystander = UserJourney(user_id="bystander")
    writes = BatchWrites(
        None, ReadModelChanges(), PROJECTION_NAME, applied=[AppliedEvent("u1", "hash-1")]
    )
    with pytest.raises(IntegrityError):
        journeys.save(bystander, batch=writes)
    assert journeys.load_journeys(["bystander"]) == {"bystander": None}
    assert applied.already_applied([AppliedEvent("u1", "hash-1")]) == {AppliedEvent("u1", "hash-1")}


# --- the guarantee, through the worker -------------------------------------------------


def test_a_force_reprocessed_event_is_not_counted_twice(flywheel: Container) -> None:
    publish(flywheel, "u1", "l1", "l2")
    drain(flywheel)
    assert everything_again(flywheel) == 2
    drain(flywheel)
    assert counted(flywheel, "u1") == {"letter.generated": 2}
    entries = flywheel.queries().get_journey("u1").events
    assert [entry.event_type for entry in entries] == ["letter.generated"] * 2
    status = flywheel.queries().get_queue_status()
    assert (status.pending, status.processed, status.failed, status.dead) == (0, 2, 0, 0)


def test_an_event_saved_but_not_acknowledged_is_not_counted_again(flywheel: Container) -> None:
    """A worker that stopped between its save and the events' marks (an older layout, or
    a save made outside the processor): the claim brings the events back, and they are
    recognised as applied."""
    publish(flywheel, "u1", "l1")
    now = flywheel.clock().now()
    (event,) = flywheel.inbox().claim(10, now, now + timedelta(minutes=5), "crashed")
    assert event.event_hash is not None
    flywheel.journeys().fold(
        [
            SourceEvent(
                event.id,
                event.event_hash,
                event.event_type,
                event.app_source,
                event.user_id,
                event.timestamp,
            )
        ]
    )
    flywheel.inbox().give_back(["crashed"])
    drain(flywheel)
    assert counted(flywheel, "u1") == {"letter.generated": 1}
    assert flywheel.queries().get_queue_status().processed == 1


class RaceAfterAnswer:
    """The real store's answer, then (once) another worker's fold, before the caller goes
    on: that fold commits between this worker's question and its load."""

    def __init__(self, inner: AppliedEvents, meanwhile: Callable[[], object]) -> None:
        self._inner = inner
        self._meanwhile: Callable[[], object] | None = meanwhile
        self.answers = 0

    def already_applied(self, events: Collection[AppliedEvent]) -> set[AppliedEvent]:
        self.answers += 1
        found = self._inner.already_applied(events)
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return found


def test_two_workers_folding_the_same_event_count_it_once(store_url: str) -> None:
    container = open_flywheel(make_settings(store_url), migrate=True)

    def worker(applied: AppliedEvents) -> JourneyApplication:
        return JourneyApplication(
            default_catalogue(),
            env=eventsourcing_env(store_url),
            history=partial(SqlAlchemyJourneyHistory.for_application, container.engine()),
            applied_events=applied,
        )

    other = worker(container.applied_events())
    racing = RaceAfterAnswer(container.applied_events(), lambda: other.fold([cv(1)]))
    first = worker(racing)
    try:
        # The other worker's save comes after this one asked, before it loads the
        # journey: the journey is current, so only the pair can refuse the save.
        result = first.fold([cv(1), cv(2)])
        (journey,) = first.load_journeys(["u1"]).values()
    finally:
        first.close()
        other.close()
        close_flywheel(container)
    assert racing.answers == 2  # the first save failed; the batch was folded again
    assert result == FoldResult(recorded=1, replayed=1, nudges_detected=0)
    assert journey is not None
    assert journey.activity_by_type == {"cv.uploaded": 2}


# --- a store the previous release made --------------------------------------------------


def test_a_store_the_previous_release_made_learns_what_its_journeys_applied(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = open_flywheel(make_settings(store_url), migrate=True)
    try:
        publish(container, "u1", "l1", "l2")
        publish(container, "u2", "l3")
        drain(container)
        engine = container.engine()
        with engine.begin() as connection:
            stored = connection.execute(select(applied_events)).all()
            # As the previous release left it: no such table, and a read model a crash
            # left one event behind (its journey has it).
            connection.execute(text(f"DROP TABLE {applied_name(store_url)}"))
            lagging = connection.execute(
                delete(journey_entries).where(journey_entries.c.user_id == "u2")
            ).rowcount
    finally:
        close_flywheel(container)
    assert (len(stored), lagging) == (3, 1)
    monkeypatch.setenv("DATABASE_URL", store_url)
    assert main(["migrate"]) == 0
    container = open_flywheel(make_settings(store_url))
    try:
        with container.engine().connect() as connection:
            assert set(connection.execute(select(applied_events)).all()) == set(stored)
        assert everything_again(container) == 3
        drain(container)
        assert counted(container, "u1") == {"letter.generated": 2}
        assert counted(container, "u2") == {"letter.generated": 1}
        with container.engine().connect() as connection:
            total = select(func.count()).select_from(applied_events)
            assert connection.execute(total).scalar() == 3
    finally:
        close_flywheel(container)


def applied_name(store_url: str) -> str:
    postgres = store_url.startswith("postgres")
    return f"{applied_events.schema}.{applied_events.name}" if postgres else applied_events.name
