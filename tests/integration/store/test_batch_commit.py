"""On every store a batch's outcome, its journeys and its read-model rows share one commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from src.adapters.postgres.recorder import BatchInsertRecorder
from src.adapters.sql.batch_writes import RowWrite
from src.adapters.sql.tables import events, journey_entries, nudges, projection_tracking
from src.adapters.sqlite import recorder as eventsourcing_sqlite
from src.application.journeys import SourceEvent
from src.application.ports.inbox import BatchOutcome, Failure, StoredEvent
from src.application.read_model_changes import PROJECTION_NAME
from src.domain.apps.letters import LetterGenerated
from src.domain.user_journey import UserJourney
from src.entrypoints.bootstrap import Container

AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def flywheel(flywheel: Container) -> Container:
    flywheel.projector().run()  # creates the tracking row, at position 0
    return flywheel


def claim(container: Container, *rows: tuple[str, str, str]) -> list[StoredEvent]:
    container.ingestion().publish(
        [
            {"event_type": kind, "app_source": app, "user_id": user, "payload": {"n": n}}
            for n, (kind, app, user) in enumerate(rows)
        ]
    )
    return container.inbox().claim(len(rows), AT, AT + timedelta(minutes=5))


def sources(claimed: list[StoredEvent]) -> list[SourceEvent]:
    return [
        SourceEvent(e.id, e.event_hash or "", e.event_type, e.app_source, e.user_id, AT)
        for e in claimed
    ]


def statuses(container: Container) -> dict[int, str]:
    with container.engine().connect() as connection:
        return dict(connection.execute(select(events.c.id, events.c.status)).all())


def tracking_position(container: Container) -> int:
    with container.engine().connect() as connection:
        return int(
            connection.execute(
                select(projection_tracking.c.position).where(
                    projection_tracking.c.name == PROJECTION_NAME
                )
            ).scalar_one()
        )


def count(container: Container, table: Any) -> int:
    with container.engine().connect() as connection:
        return len(connection.execute(select(table)).all())


def test_the_save_marks_the_batch_projects_it_and_moves_the_tracking_row(
    flywheel: Container,
) -> None:
    claimed = claim(
        flywheel,
        ("letter.generated", "phoenix-letters", "u1"),
        ("job_offer.analyzed", "phoenix-letters", "u1"),
        ("cv.uploaded", "phoenix-cv", "u2"),
    )
    first, second, third = (event.id for event in claimed)
    outcome = BatchOutcome([first, second], [], [Failure(third, "boom", None)], AT)

    flywheel.journeys().fold(sources(claimed[:2]), outcome)

    assert statuses(flywheel) == {first: "processed", second: "processed", third: "dead"}
    assert count(flywheel, journey_entries) == 2
    assert count(flywheel, nudges) == 1  # two letters' events: the CV nudge
    notifications = flywheel.journeys().recorder.max_notification_id()
    assert tracking_position(flywheel) == notifications
    assert flywheel.projector().run() == 0  # nothing left for the pull projection


def test_the_tracking_row_waits_for_notifications_saved_before_the_batch(
    flywheel: Container,
) -> None:
    # A journey saved outside any batch (every fold is one): left to the pull projection.
    earlier = UserJourney(user_id="u1")
    earlier.record(
        LetterGenerated,
        event_hash="e" * 64,
        event_type="letter.generated",
        app_source="phoenix-letters",
        occurred_at=AT,
    )
    flywheel.journeys().save(earlier)
    later = claim(flywheel, ("cv.uploaded", "phoenix-cv", "u2"))
    outcome = BatchOutcome([later[0].id], [], [], AT)

    flywheel.journeys().fold(sources(later), outcome)

    assert tracking_position(flywheel) == 0  # a notification before the batch is unprojected
    assert count(flywheel, journey_entries) == 1  # ... though the batch's own rows are there
    saved = flywheel.journeys().recorder.max_notification_id()
    assert flywheel.projector().run() == saved  # the pull catches up, over the batch's too
    assert count(flywheel, journey_entries) == 2
    assert tracking_position(flywheel) == saved


def test_a_failed_save_writes_neither_the_outcome_nor_the_read_models(
    flywheel: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimed = claim(flywheel, ("letter.generated", "phoenix-letters", "u1"))

    hook = BatchInsertRecorder._insert_events

    def insert_fails(recorder: BatchInsertRecorder, *args: Any, **kwargs: Any) -> None:
        hook(recorder, *args, **kwargs)
        raise RuntimeError("disk full")

    write_rows = eventsourcing_sqlite.write_rows

    def outcome_then_fail(execute: Any, writes: Sequence[RowWrite]) -> None:
        write_rows(execute, [write for write in writes if write.table is events])
        raise RuntimeError("disk full")

    # PostgreSQL writes the outcome and the views, then the insert fails; SQLite inserts
    # the events and marks the outcome, then the views fail: all rolled back either way.
    monkeypatch.setattr(BatchInsertRecorder, "_insert_events", insert_fails)
    monkeypatch.setattr(eventsourcing_sqlite, "write_rows", outcome_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        flywheel.journeys().fold(sources(claimed), BatchOutcome([claimed[0].id], [], [], AT))

    assert statuses(flywheel) == {claimed[0].id: "processing"}
    assert count(flywheel, journey_entries) == 0
    assert tracking_position(flywheel) == 0
