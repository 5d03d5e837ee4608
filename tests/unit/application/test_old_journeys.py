"""Journeys stored by older releases still load, and go on counting from there: before
windowed rules (events and snapshots without counters, nudges without conversion types),
and before the store kept the applied events (snapshots with every hash applied)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import StoredEvent

from src.application.journeys import SourceEvent
from src.domain.apps import discover_apps
from src.domain.catalogue import Catalogue
from src.domain.user_journey import UserJourney, journey_id
from tests.fakes import fake_journeys

AT = datetime(2026, 3, 1, tzinfo=UTC)
NEW_FIELDS = ("marks", "keep_days", "converts_on", "class_version")
NEW_STATE = ("daily", "daily_first", "first_at", "last_at", "mark_totals", "class_version")
APPLIED_HASHES = {"h1": True}
"""What a journey kept of its history until the store kept it (class versions 1 and 2)."""


def catalogue() -> Catalogue:
    return Catalogue(
        a for a in discover_apps() if a.app_source in ("phoenix-letters", "phoenix-cv")
    )


def aged(
    stored: StoredEvent,
    drop: tuple[str, ...],
    version: int | None = None,
    *,
    snapshot: bool = False,
    add: dict[str, Any] | None = None,
) -> StoredEvent:
    """The stored event (or snapshot) as the previous release wrote it."""
    document: dict[str, Any] = json.loads(stored.state)
    state = document["state"] if snapshot else document
    for name in drop:
        state.pop(name, None)
    state.update(add or {})
    if version is not None:
        state["class_version"] = version
    return replace(stored, state=json.dumps(document).encode())


def test_old_events_replay_into_a_journey_whose_old_nudge_converts_on_its_target_app() -> None:
    app = fake_journeys(catalogue())
    app.fold([SourceEvent(1, "h1", "letter.generated", "phoenix-letters", "u1", AT)])
    stored = app.recorder.select_events(journey_id("u1"))
    journey: Any = None
    for event in stored:
        version = 2 if event.topic.endswith("NudgeDetected") else None
        journey = app.mapper.to_domain_event(aged(event, NEW_FIELDS, version)).mutate(journey)
    assert isinstance(journey, UserJourney)
    assert journey.activity_by_type == {"letter.generated": 1}
    assert journey.nudges["letters_to_cv"].get("converts_on") is None
    journey.record(
        UserJourney.ActivityRecorded,
        event_hash="h2",
        event_type="cv.generated",
        app_source="phoenix-cv",
        occurred_at=AT + timedelta(days=1),
    )
    assert journey.nudges["letters_to_cv"]["status"] == "converted"


def test_an_old_snapshot_loads_with_empty_counters_that_fill_from_new_events() -> None:
    app = fake_journeys(catalogue())
    app.fold([SourceEvent(1, "h1", "letter.generated", "phoenix-letters", "u1", AT)])
    current = app.get_journey("u1")
    assert current is not None
    stored = app.mapper.to_stored_event(UserJourney.Snapshot.take(current))
    old = aged(stored, NEW_STATE, snapshot=True, add={"applied_hashes": APPLIED_HASHES})
    journey: Any = app.mapper.to_domain_event(old).mutate(None)
    assert (journey.daily, journey.last_at, journey.mark_totals) == ({}, {}, {})
    assert not hasattr(journey, "applied_hashes")
    assert journey.activity_by_type == {"letter.generated": 1}
    journey.record(
        UserJourney.ActivityRecorded,
        event_hash="h2",
        event_type="letter.generated",
        app_source="phoenix-letters",
        occurred_at=AT,
        keep_days=7,
    )
    assert journey.count(["letter.generated"], 7, AT) == 1
    assert journey.count(["letter.generated"], None, AT) == 2


def test_a_snapshot_holding_every_applied_hash_loads_without_them() -> None:
    app = fake_journeys(catalogue())
    app.fold([SourceEvent(1, "h1", "letter.generated", "phoenix-letters", "u1", AT)])
    current = app.get_journey("u1")
    assert current is not None
    stored = app.mapper.to_stored_event(UserJourney.Snapshot.take(current))
    old = aged(stored, (), 2, snapshot=True, add={"applied_hashes": APPLIED_HASHES})
    journey: Any = app.mapper.to_domain_event(old).mutate(None)
    assert not hasattr(journey, "applied_hashes")
    assert journey.activity_by_type == current.activity_by_type
    assert journey.daily == current.daily
    assert journey.nudges == current.nudges
