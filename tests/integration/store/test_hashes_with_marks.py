"""Rows that arrive without a hash (a plain SQL import) take it with their marks, in the
commit that saves their batch: one new version of each row less than assigning the
hashes first. On both stores: a processed row holds its hash afterwards, a twin
of a stored row (or of an earlier row of the batch) is a duplicate without one, and a
twin committed while the batch was in hand makes its row a duplicate, the rest of the
batch saved."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest
from sqlalchemy import insert, select

from src.adapters.sql.tables import events
from src.domain.event_hash import compute_event_hash
from src.entrypoints.bootstrap import Container

CV = {"event_type": "cv.uploaded", "app_source": "phoenix-cv"}


def import_rows(container: Container, *rows: Mapping[str, object]) -> list[int]:
    """Rows as an SQL import leaves them: no hash."""
    with container.engine().begin() as connection:
        return [
            connection.execute(insert(events).values(**row).returning(events.c.id)).scalar_one()
            for row in rows
        ]


def rows(container: Container) -> dict[int, tuple[str, str | None]]:
    with container.engine().connect() as connection:
        found = connection.execute(select(events.c.id, events.c.status, events.c.event_hash))
        return {event_id: (status, event_hash) for event_id, status, event_hash in found}


def hash_of(user: str, payload: Mapping[str, object]) -> str:
    return compute_event_hash(CV["event_type"], CV["app_source"], user, payload, None)


def drain(container: Container) -> None:
    asyncio.run(container.processor().drain())


def test_rows_without_hash_take_theirs_with_their_marks_and_twins_are_duplicates(
    flywheel: Container,
) -> None:
    flywheel.ingestion().publish([{**CV, "user_id": "u3", "payload": {"n": 3}}])
    first, twin, other, twin_of_stored = import_rows(
        flywheel,
        {**CV, "user_id": "u1", "payload": {"n": 1}},
        {**CV, "user_id": "u1", "payload": {"n": 1}},
        {**CV, "user_id": "u2", "payload": {"n": 2}},
        {**CV, "user_id": "u3", "payload": {"n": 3}},
    )
    drain(flywheel)
    found = rows(flywheel)
    assert found[first] == ("processed", hash_of("u1", {"n": 1}))
    assert found[other] == ("processed", hash_of("u2", {"n": 2}))
    assert found[twin] == ("duplicate", None)
    assert found[twin_of_stored] == ("duplicate", None)
    (journey,) = flywheel.journeys().load_journeys(["u1"]).values()
    assert journey is not None
    assert journey.activity_by_type == {"cv.uploaded": 1}


def test_a_twin_committed_while_the_batch_was_in_hand_makes_its_row_a_duplicate(
    flywheel: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (late,) = import_rows(flywheel, {**CV, "user_id": "u1", "payload": {"n": 1}})
    (kept,) = import_rows(flywheel, {**CV, "user_id": "u2", "payload": {"n": 2}})
    inbox = flywheel.inbox()
    look_up = inbox.twins
    calls: list[int] = []

    def twins_then_a_twin_arrives(hashes: Mapping[int, str]) -> set[int]:
        found = look_up(hashes)
        if not calls:  # after the triage's look-up, the bridge publishes the same event
            flywheel.ingestion().publish([{**CV, "user_id": "u1", "payload": {"n": 1}}])
        calls.append(len(hashes))
        return found

    monkeypatch.setattr(inbox, "twins", twins_then_a_twin_arrives)
    with caplog.at_level(logging.INFO):
        drain(flywheel)
    found = rows(flywheel)
    assert found[late] == ("duplicate", None)
    assert found[kept] == ("processed", hash_of("u2", {"n": 2}))
    (published,) = (i for i in found if i not in (late, kept))
    assert found[published] == ("processed", hash_of("u1", {"n": 1}))
    assert calls == [2, 2]  # the triage's, and the one after the save the twin failed
    assert "saving it in parts" not in caplog.text
    assert "Événement déjà traité" in caplog.text
    (journey,) = flywheel.journeys().load_journeys(["u1"]).values()
    assert journey is not None
    assert journey.activity_by_type == {"cv.uploaded": 1}
