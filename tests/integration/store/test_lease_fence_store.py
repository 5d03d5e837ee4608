"""On SQLite and PostgreSQL, a save holds only while its batch still holds its events.

A batch claimed under one name whose lease ran out, and whose events another batch took
over or whose user was forgotten, saves nothing: not its journeys, not its outcome, not
a read-model row nor an applied pair. (The inbox's own ``complete``: its contract test.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from src.adapters.sql.tables import applied_events, events, journey_entries, nudges
from src.application.errors import LeaseLostError
from src.application.journeys import SourceEvent
from src.application.ports.inbox import BatchOutcome, StoredEvent
from src.domain.user_journey import journey_id
from src.entrypoints.bootstrap import Container

AT = datetime(2026, 3, 1, tzinfo=UTC)
LEASE = timedelta(seconds=15)


def claimed_by(container: Container, holder: str, at: datetime) -> list[StoredEvent]:
    return container.inbox().claim(10, at, at + LEASE, holder)


def publish_cvs(container: Container, user: str, count: int) -> None:
    container.ingestion().publish(
        [
            {
                "event_type": "cv.uploaded",
                "app_source": "phoenix-cv",
                "user_id": user,
                "payload": {"n": n},
            }
            for n in range(count)
        ]
    )


def sources(claimed: list[StoredEvent]) -> list[SourceEvent]:
    return [
        SourceEvent(e.id, e.event_hash or "", e.event_type, e.app_source, e.user_id, AT)
        for e in claimed
    ]


def processed(claimed: list[StoredEvent], holder: str) -> BatchOutcome:
    return BatchOutcome([e.id for e in claimed], [], [], AT, holder)


def rows(container: Container, table: Any, user: str) -> int:
    with container.engine().connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(table).where(table.c.user_id == user)
            ).scalar_one()
        )


def holders(container: Container) -> set[tuple[str, str | None]]:
    with container.engine().connect() as connection:
        return {
            (row[0], row[1])
            for row in connection.execute(select(events.c.status, events.c.locked_by))
        }


def test_a_batch_whose_events_were_taken_over_saves_nothing(flywheel: Container) -> None:
    publish_cvs(flywheel, "u1", 2)
    stalled = claimed_by(flywheel, "stalled:1", AT)
    taken = claimed_by(flywheel, "other:1", AT + 2 * LEASE)  # the lease ran out
    assert [e.id for e in taken] == [e.id for e in stalled]

    with pytest.raises(LeaseLostError, match="stalled:1"):
        flywheel.journeys().fold(sources(stalled), processed(stalled, "stalled:1"))

    assert holders(flywheel) == {("processing", "other:1")}
    assert rows(flywheel, journey_entries, "u1") == 0
    assert rows(flywheel, applied_events, "u1") == 0
    assert rows(flywheel, nudges, "u1") == 0
    assert flywheel.journeys().load_journeys(["u1"]) == {"u1": None}
    # The new holder's save goes through, and counts each event once.
    flywheel.journeys().fold(sources(taken), processed(taken, "other:1"))
    assert holders(flywheel) == {("processed", "other:1")}
    assert rows(flywheel, journey_entries, "u1") == 2


def test_a_batch_whose_user_was_forgotten_meanwhile_saves_nothing(flywheel: Container) -> None:
    publish_cvs(flywheel, "victim", 3)
    stalled = claimed_by(flywheel, "stalled:1", AT)
    taken = claimed_by(flywheel, "other:1", AT + 2 * LEASE)
    flywheel.journeys().fold(sources(taken), processed(taken, "other:1"))
    assert rows(flywheel, nudges, "victim") == 1  # three CVs and no letter: cv_to_letters
    flywheel.eraser().forget("victim", journey_id("victim"), AT + 3 * LEASE)

    with pytest.raises(LeaseLostError):
        flywheel.journeys().fold(sources(stalled), processed(stalled, "stalled:1"))

    for table in (events, journey_entries, applied_events, nudges):
        assert rows(flywheel, table, "victim") == 0, table.name
    assert list(flywheel.journeys().recorder.select_events(journey_id("victim"))) == []
