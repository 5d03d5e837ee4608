"""A batch that lost its lease writes nothing back, on fakes (the stores: integration tests).

Its worker stalls past the lease; meanwhile another worker takes the batch over and
finishes it, or the user is forgotten. The applied-pairs check is blinded here, so only
the fencing token stands between the stalled save and a double count or a phantom.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

import pytest

from src.application.ingest import EventIngestion
from src.application.journeys import JourneyApplication
from src.application.ports.inbox import StoredEvent
from src.application.ports.journeys import AppliedEvent
from src.application.processing.policy import ProcessingPolicy
from src.application.processing.processor import EventQueueProcessor
from src.application.projector import ReadModelProjector
from src.domain.apps import default_catalogue
from src.domain.user_journey import journey_id
from tests.fake_erasure import FORGETTABLE, FakeUserEraser
from tests.fakes import (
    FakeAppliedEvents,
    FakeClock,
    FakeEventInbox,
    FakeReadModelStore,
    fake_journeys,
)


class BlindAppliedEvents(FakeAppliedEvents):
    """Keeps the pairs (so erasure has them to remove) but never finds nor refuses one."""

    def already_applied(self, events: Collection[AppliedEvent]) -> set[AppliedEvent]:
        return set()

    def check(self, events: Sequence[AppliedEvent]) -> None:
        return None


@dataclass
class Store:
    clock: FakeClock
    inbox: FakeEventInbox
    read_models: FakeReadModelStore
    applied: BlindAppliedEvents
    journeys: JourneyApplication

    def processor(self, *analysers: object) -> EventQueueProcessor:
        return EventQueueProcessor(
            inbox=self.inbox,
            journeys=self.journeys,
            projector=ReadModelProjector(self.journeys, self.read_models),
            catalogue=self.journeys.catalogue,
            clock=self.clock,
            policy=ProcessingPolicy(lease_seconds=60, retry_backoff_seconds=0),
            analysers=analysers,  # type: ignore[arg-type]  # the analysers below
        )


@pytest.fixture
def store() -> Iterator[Store]:
    clock = FakeClock()
    inbox, read_models, applied = FakeEventInbox(clock), FakeReadModelStore(), BlindAppliedEvents()
    journeys = fake_journeys(
        default_catalogue(),
        env=FORGETTABLE,
        inbox=inbox,
        read_models=read_models,
        applied_events=applied,
    )
    EventIngestion(inbox, journeys.catalogue).publish(
        [
            {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "victim"},
            {"event_type": "cv.generated", "app_source": "phoenix-cv", "user_id": "victim"},
            {"event_type": "letter.generated", "app_source": "phoenix-letters", "user_id": "u2"},
        ]
    )
    yield Store(clock, inbox, read_models, applied, journeys)
    journeys.close()


class Stall:
    """Analyses the batch's first event: meanwhile its lease runs out and ``meanwhile`` runs."""

    def __init__(self, store: Store, meanwhile: Callable[[], Awaitable[None]]) -> None:
        self.store = store
        self.meanwhile = meanwhile
        self.stalled = False

    async def analyse(self, event: StoredEvent) -> None:
        if not self.stalled:
            self.stalled = True
            self.store.clock.advance(minutes=5)  # past the 60 s lease: no heartbeat came
            await self.meanwhile()


def test_a_batch_taken_over_while_stalled_is_counted_once_by_its_new_holder(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    other = store.processor()

    async def another_worker_finishes_the_batch() -> None:
        assert (await other.process_batch()).processed == 3

    stalled = store.processor(Stall(store, another_worker_finishes_the_batch))
    with caplog.at_level(logging.INFO):
        summary = asyncio.run(stalled.drain())

    store.journeys.load_journeys(["victim"])
    victim = store.journeys.get_journey("victim")
    assert victim is not None
    assert victim.activity_by_type == {"cv.uploaded": 1, "cv.generated": 1}
    assert {row.status for row in store.inbox.rows.values()} == {"processed"}
    # One attempt per claim: the stalled worker counted nothing more.
    assert {row.event.attempts for row in store.inbox.rows.values()} == {2}
    assert (summary.claimed, summary.lost, summary.processed, summary.failed) == (3, 3, 0, 0)
    assert caplog.text.count("lost its lease") == 1
    assert "version conflict" not in caplog.text
    assert "saving it in parts" not in caplog.text


def test_a_user_forgotten_while_the_batch_stalled_stays_forgotten(store: Store) -> None:
    eraser = FakeUserEraser(store.inbox, store.read_models, store.journeys)

    async def the_user_is_forgotten() -> None:
        eraser.forget("victim", journey_id("victim"), store.clock.now())

    summary = asyncio.run(store.processor(Stall(store, the_user_is_forgotten)).drain())

    assert store.journeys.load_journeys(["victim"]) == {"victim": None}
    assert store.read_models.get_journey("victim") is None
    assert [pair.user_id for pair in store.applied.pairs] == ["u2"]
    assert [row.event.user_id for row in store.inbox.rows.values()] == ["u2"]
    assert (summary.lost, summary.processed) == (3, 1)  # then u2 again, claimed anew
