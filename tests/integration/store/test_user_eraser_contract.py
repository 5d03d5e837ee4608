"""One contract for ``UserEraser``: the fake, and the SQL adapter on SQLite and PostgreSQL.

Each store is filled the same way (through the real processor), then one user is
forgotten: every kind of row about them is counted and gone, a second call removes
nothing, and every figure of the other users is what it was, minus that user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from src.application.erasure import UserErasure
from src.application.errors import NudgeNotFoundError, UserBusyError, UserNotFoundError
from src.application.ingest import EventIngestion
from src.application.journeys import JourneyApplication
from src.application.ports.clock import Clock
from src.application.ports.erasure import ErasureReport, UserEraser
from src.application.ports.inbox import EventInbox
from src.application.ports.read_models import EcosystemFigures, Journey
from src.application.processing.policy import ProcessingPolicy
from src.application.processing.processor import EventQueueProcessor
from src.application.projector import ReadModelProjector
from src.application.queries import FlywheelQueries
from src.application.rule_book import rule_book
from src.domain.apps import default_catalogue
from src.domain.user_journey import journey_id
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.fake_erasure import FORGETTABLE, FakeUserEraser
from tests.fakes import (
    TEST_SETTINGS,
    FakeClock,
    FakeEventInbox,
    FakeNudgeBoard,
    FakeReadModelStore,
    fake_journeys,
)


@dataclass
class World:
    inbox: EventInbox
    journeys: JourneyApplication
    processor: EventQueueProcessor
    eraser: UserEraser
    erasure: UserErasure
    ingestion: EventIngestion
    queries: FlywheelQueries
    clock: Clock

    def emit(self, event_type: str, app: str, user: str, key: str | None = None) -> None:
        event = {"event_type": event_type, "app_source": app, "user_id": user}
        self.ingestion.publish([{**event, "idempotency_key": key}])

    def process(self) -> None:
        asyncio.run(self.processor.drain())

    def stream(self, user: str) -> tuple[int, int]:
        """How many stored events and snapshots the user's journey has."""
        key = journey_id(user)
        snapshots = self.journeys.snapshots
        return (
            len(self.journeys.recorder.select_events(key)),
            len(snapshots.recorder.select_events(key)) if snapshots else 0,
        )


def fake_world() -> Iterator[World]:
    catalogue = default_catalogue()
    clock = FakeClock()
    inbox = FakeEventInbox(clock)
    read_models = FakeReadModelStore()
    rules = rule_book(catalogue, catalogue.experiments, TEST_SETTINGS).nudge_rules
    board = FakeNudgeBoard(read_models, inbox, clock, rules)
    journeys = fake_journeys(catalogue, env=FORGETTABLE, inbox=inbox, read_models=read_models)
    eraser = FakeUserEraser(inbox, read_models, journeys)
    yield World(
        inbox=inbox,
        journeys=journeys,
        processor=EventQueueProcessor(
            inbox,
            journeys,
            ReadModelProjector(journeys, read_models),
            catalogue,
            clock,
            ProcessingPolicy(retry_backoff_seconds=0),
        ),
        eraser=eraser,
        erasure=UserErasure(eraser, journeys, clock, busy_wait_seconds=0),
        ingestion=EventIngestion(inbox, catalogue),
        queries=FlywheelQueries(inbox, read_models, catalogue, clock, board),
        clock=clock,
    )
    journeys.close()


def sql_world(url: str) -> Iterator[World]:
    container = open_flywheel(make_settings(url), migrate=True)
    try:
        yield World(
            inbox=container.inbox(),
            journeys=container.journeys(),
            processor=container.processor(),
            eraser=container.eraser(),
            erasure=UserErasure(
                container.eraser(), container.journeys(), container.clock(), busy_wait_seconds=0
            ),
            ingestion=container.ingestion(),
            queries=container.queries(),
            clock=container.clock(),
        )
    finally:
        close_flywheel(container)


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "fake":
        yield from fake_world()
    else:
        fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
        yield from sql_world(str(request.getfixturevalue(fixture)))


def populate(world: World) -> None:
    """alice and bob each get a nudge, shown once; alice converts hers; alice and carol
    leave an event pending; alice's journey gets a snapshot."""
    world.emit("letter.generated", "phoenix-letters", "alice", "l1")
    world.emit("letter.generated", "phoenix-letters", "alice", "l2")
    world.emit("cv.uploaded", "phoenix-cv", "bob")
    world.process()
    for user, app in (("alice", "phoenix-letters"), ("bob", "phoenix-cv")):
        (nudge,) = world.queries.list_active_nudges(user, app)
        world.queries.record_nudge_shown(nudge.nudge_id)
    world.emit("cv.uploaded", "phoenix-cv", "alice")
    world.process()
    world.journeys.take_snapshot(journey_id("alice"))
    world.emit("cv.generated", "phoenix-cv", "alice")
    world.emit("letter.generated", "phoenix-letters", "carol")


def as_dict(figures: EcosystemFigures) -> dict[str, Any]:
    return {
        "total_events": figures.total_events,
        "unique_users": figures.unique_users,
        "cross_app_users": figures.cross_app_users,
        "events_by_app": dict(figures.events_by_app),
        "nudges": (figures.nudges_detected, figures.nudges_shown, figures.nudges_converted),
    }


def figures(world: World) -> dict[str, Any]:
    return as_dict(world.queries.get_ecosystem(30))


def minus(before: EcosystemFigures, user: Journey, *, shown: int) -> dict[str, Any]:
    """The figures less what one user contributed (their entries, nudges and displays)."""
    by_app = dict(before.events_by_app)
    for entry in user.events:
        by_app[entry.app_source] -= 1
    converted = sum(1 for n in user.nudges if n.status == "converted")
    return {
        "total_events": before.total_events - len(user.events),
        "unique_users": before.unique_users - 1,
        "cross_app_users": before.cross_app_users - (len(user.apps) > 1),
        "events_by_app": {app: count for app, count in by_app.items() if count},
        "nudges": (
            before.nudges_detected - len(user.nudges),
            before.nudges_shown - shown,
            before.nudges_converted - converted,
        ),
    }


def test_forgetting_removes_every_kind_of_row_and_counts_them(world: World) -> None:
    populate(world)
    alice = world.queries.get_journey("alice")
    bob = (world.queries.get_journey("bob"), world.queries.list_active_nudges("bob", "phoenix-cv"))
    before = world.queries.get_ecosystem(30)
    stream_before = world.stream("alice")
    assert stream_before[1] == 1
    status_before = world.inbox.queue_status(world.clock.now())

    report = world.eraser.forget("alice", journey_id("alice"), world.clock.now())

    assert report == ErasureReport(
        events=4,  # two letters and a CV processed, one CV pending
        journey_events=stream_before[0],
        journey_snapshots=1,
        journey_entries=3,
        nudges=1,
        nudges_sent=1,
        applied_events=3,
        nudge_offers=0,
    )
    assert world.stream("alice") == (0, 0)
    with pytest.raises(UserNotFoundError):
        world.queries.get_journey("alice")
    status = world.inbox.queue_status(world.clock.now())
    assert (status.processed, status.pending) == (status_before.processed - 3, 1)  # carol's
    # Nothing of bob changed, and the figures lost exactly alice's part.
    assert (
        world.queries.get_journey("bob"),
        world.queries.list_active_nudges("bob", "phoenix-cv"),
    ) == bob
    assert figures(world) == minus(before, alice, shown=1)
    assert alice.apps == ("phoenix-cv", "phoenix-letters")
    # Idempotent: nothing left to remove.
    assert world.eraser.forget("alice", journey_id("alice"), world.clock.now()) == ErasureReport()
    # The pending event of alice is gone too: processing the queue brings nothing back.
    world.process()
    with pytest.raises(UserNotFoundError):
        world.queries.get_journey("alice")
    assert world.stream("alice") == (0, 0)


def test_an_unknown_user_is_forgotten_with_nothing_removed(world: World) -> None:
    populate(world)
    before = figures(world)
    assert world.eraser.forget("nobody", journey_id("nobody"), world.clock.now()) == ErasureReport()
    assert figures(world) == before


def test_a_batch_in_a_workers_hands_makes_forgetting_wait(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "alice")
    now = world.clock.now()
    (claimed,) = world.inbox.claim(10, now, now + timedelta(minutes=5))
    with pytest.raises(UserBusyError):
        world.eraser.forget("alice", journey_id("alice"), now)
    with pytest.raises(UserBusyError):
        world.erasure.forget("alice")
    assert world.inbox.queue_status(now).processing == 1  # nothing removed
    # Once the lease has expired the worker is presumed dead: its events go too.
    later = now + timedelta(minutes=6)
    assert world.eraser.forget("alice", journey_id("alice"), later).events == 1
    assert claimed.user_id == "alice"


def test_a_journey_cached_before_forgetting_does_not_come_back(world: World) -> None:
    """The worker that folded alice's events still holds her journey in memory."""
    world.emit("letter.generated", "phoenix-letters", "alice", "l1")
    world.emit("letter.generated", "phoenix-letters", "alice", "l2")
    world.process()
    assert world.journeys.get_journey("alice") is not None  # cached
    world.erasure.forget("alice")
    world.emit("cv.uploaded", "phoenix-cv", "alice")
    world.process()
    journey = world.queries.get_journey("alice")
    assert [entry.event_type for entry in journey.events] == ["cv.uploaded"]
    assert [n.nudge_type for n in journey.nudges] == ["cv_to_letters"]
    (loaded,) = world.journeys.load_journeys(["alice"]).values()
    assert loaded is not None
    assert loaded.activity_by_app == {"phoenix-cv": 1}


def test_the_events_a_forgotten_user_sends_again_count_again(world: World) -> None:
    """Forgetting takes the user's applied events too: the same events, sent again after
    the erasure, are a new history, not replays of the forgotten one."""
    populate(world)
    world.erasure.forget("alice")
    world.emit("letter.generated", "phoenix-letters", "alice", "l1")
    world.emit("letter.generated", "phoenix-letters", "alice", "l2")
    world.process()
    (loaded,) = world.journeys.load_journeys(["alice"]).values()
    assert loaded is not None
    assert loaded.activity_by_app == {"phoenix-letters": 2}
    journey = world.queries.get_journey("alice")
    assert [entry.event_type for entry in journey.events] == ["letter.generated"] * 2


def test_forgetting_removes_the_offers_made_before_the_worker_ran(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "erin")
    (offer,) = world.queries.list_active_nudges("erin", "phoenix-letters")
    world.queries.record_nudge_shown(offer.nudge_id)

    report = world.eraser.forget("erin", journey_id("erin"), world.clock.now())

    assert (report.events, report.nudge_offers, report.nudges_sent) == (1, 1, 1)
    assert world.queries.list_active_nudges("erin", "phoenix-letters") == []
    with pytest.raises(NudgeNotFoundError):
        world.queries.record_nudge_shown(offer.nudge_id)
