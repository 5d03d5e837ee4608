"""An application wired to fakes: in-memory journeys (eventsourcing's POPO store)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from src.adapters.toml_experiments import load_experiments
from src.application.admin import QueueAdmin
from src.application.experiments import VariantAssigner
from src.application.ingest import EventIngestion
from src.application.journeys import JourneyApplication
from src.application.ports.analysers import EventAnalyser
from src.application.processing.policy import ProcessingPolicy
from src.application.processing.processor import EventQueueProcessor
from src.application.projector import ReadModelProjector
from src.application.queries import FlywheelQueries
from src.application.rule_book import rule_book
from src.domain.apps import default_catalogue
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
    clock: FakeClock
    inbox: FakeEventInbox
    read_models: FakeReadModelStore
    board: FakeNudgeBoard
    journeys: JourneyApplication
    ingestion: EventIngestion
    queries: FlywheelQueries
    admin: QueueAdmin

    def processor(
        self, analysers: tuple[EventAnalyser, ...] = (), **policy: float
    ) -> EventQueueProcessor:
        settings = {"retry_backoff_seconds": 0.0, **policy}
        return EventQueueProcessor(
            inbox=self.inbox,
            journeys=self.journeys,
            projector=ReadModelProjector(self.journeys, self.read_models),
            catalogue=self.journeys.catalogue,
            clock=self.clock,
            policy=ProcessingPolicy(**settings),  # type: ignore[arg-type]
            analysers=analysers,
        )

    def emit(self, event_type: str, app_source: str, user_id: str, **extra: object) -> None:
        self.ingestion.publish(
            [{"event_type": event_type, "app_source": app_source, "user_id": user_id, **extra}]
        )


@pytest.fixture
def world() -> Iterator[World]:
    catalogue = default_catalogue()
    clock = FakeClock()
    inbox = FakeEventInbox(clock)
    read_models = FakeReadModelStore()
    book = load_experiments(None, catalogue)
    rules = rule_book(catalogue, book, TEST_SETTINGS).nudge_rules
    board = FakeNudgeBoard(read_models, inbox, clock, rules)
    assigner = VariantAssigner(book, read_models, clock, board)
    journeys = fake_journeys(catalogue, inbox=inbox, read_models=read_models, variants=assigner)
    yield World(
        clock=clock,
        inbox=inbox,
        read_models=read_models,
        board=board,
        journeys=journeys,
        ingestion=EventIngestion(inbox, catalogue),
        queries=FlywheelQueries(inbox, read_models, catalogue, clock, board, experiments=book),
        admin=QueueAdmin(inbox),
    )
    journeys.close()
