"""The count of erasures a worker reads with its journeys, on both stores: a cached
journey is read from its next version on while nobody is forgotten, and checked against
its last stored event again once somebody is."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any
from uuid import UUID

import pytest

from src.adapters.sqlalchemy_journey_history import SqlAlchemyJourneyHistory
from src.application.ports.journeys import StoredHistory
from src.domain.user_journey import journey_id
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings


@pytest.fixture
def opened(store_url: str) -> Iterator[Any]:
    """Opens flywheels on the store (each one as a process of its own would), closes them."""
    containers: list[Container] = []

    def open_one() -> Container:
        containers.append(open_flywheel(make_settings(store_url), migrate=True))
        return containers[-1]

    yield open_one
    for container in containers:
        close_flywheel(container)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[dict[UUID, int]]:
    """The versions each ``events_after`` was asked for, in order."""
    calls: list[dict[UUID, int]] = []
    real = SqlAlchemyJourneyHistory.events_after

    def spy(self: SqlAlchemyJourneyHistory, versions: Mapping[UUID, int]) -> StoredHistory:
        calls.append(dict(versions))
        return real(self, versions)

    monkeypatch.setattr(SqlAlchemyJourneyHistory, "events_after", spy)
    return calls


def emit_and_drain(container: Container, user: str, key: str) -> None:
    event = {"event_type": "letter.generated", "app_source": "phoenix-letters", "user_id": user}
    container.ingestion().publish([{**event, "idempotency_key": key}])
    asyncio.run(container.processor().drain())


def test_every_erasure_moves_the_count(opened: Any) -> None:
    flywheel = opened()
    history = SqlAlchemyJourneyHistory.for_application(flywheel.engine(), flywheel.journeys())
    assert history.events_after({}).erasures == 0
    flywheel.erasure().forget("nobody")
    assert history.events_after({}).erasures == 1
    emit_and_drain(flywheel, "alice", "a1")
    flywheel.erasure().forget("alice")
    assert history.events_after({journey_id("alice"): 0}) == StoredHistory([], 2)


def test_a_cached_journey_is_checked_again_once_somebody_is_forgotten(
    opened: Any, asked: list[dict[UUID, int]]
) -> None:
    worker, operator = opened(), opened()
    emit_and_drain(worker, "alice", "a1")
    emit_and_drain(worker, "bob", "b1")
    alice = worker.journeys().get_journey("alice")
    assert alice is not None
    key = journey_id("alice")

    asked.clear()
    assert worker.journeys().load_journeys(["alice"]) == {"alice": alice}
    assert asked == [{key: alice.version}]  # its newer events only: none

    operator.erasure().forget("bob")
    asked.clear()
    assert worker.journeys().load_journeys(["alice"]) == {"alice": alice}
    # Trusted first, but the count moved: asked again, from its last event on.
    assert asked == [{key: alice.version}, {key: alice.version - 1}]
    assert worker.journeys().get_journey("alice") is alice  # checked, kept

    asked.clear()
    worker.journeys().load_journeys(["alice"])
    assert asked == [{key: alice.version}]


def test_a_journey_another_worker_extended_is_brought_up_to_date(opened: Any) -> None:
    worker, other = opened(), opened()
    emit_and_drain(worker, "alice", "a1")
    emit_and_drain(other, "alice", "a2")
    emit_and_drain(worker, "alice", "a3")
    (held,) = worker.journeys().load_journeys(["alice"]).values()
    (stored,) = opened().journeys().load_journeys(["alice"]).values()
    assert held is not None
    assert stored is not None
    assert held.version == stored.version
    assert held.activity_by_app == stored.activity_by_app == {"phoenix-letters": 3}
