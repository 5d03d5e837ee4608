"""The journeys' compiled transcoder writes eventsourcing's JSON byte for byte, on SQLite
and PostgreSQL: journeys stored by the previous release (eventsourcing's own transcoder)
load and go on counting, a rollback reads what the new one wrote, and ``migrate``'s SQL
still reads the applied pairs from the stored activities."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    TranscodingNotRegisteredError,
)
from sqlalchemy import select, text

from src.adapters.compiled_transcoder import CompiledJSONTranscoder
from src.adapters.sql.tables import applied_events
from src.application.journeys import JourneyApplication, SourceEvent
from src.domain.user_journey import UserJourney, journey_id
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.cli.commands import main
from tests.conftest import make_settings

AT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
OLD = "eventsourcing.persistence:JSONTranscoder"
"""``TRANSCODER_TOPIC`` of the previous release's encoding (eventsourcing's setting)."""


def source(n: int, event_type: str, app_source: str, user: str = "u1") -> SourceEvent:
    return SourceEvent(n, f"hash-{n}", event_type, app_source, user, AT + timedelta(hours=n))


# A letter (the journey's creation, an activity, a nudge towards the CV app), then a CV
# (an activity that converts it): every kind of journey event.
LETTER = source(1, "letter.generated", "phoenix-letters")
CV = source(2, "cv.generated", "phoenix-cv")
LATER = source(3, "letter.generated", "phoenix-letters")


@pytest.fixture
def opened(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Opens the flywheel on the store, with the previous release's transcoder or ours."""
    containers: list[Container] = []

    def open_with(*, old: bool) -> Container:
        if old:
            monkeypatch.setenv("TRANSCODER_TOPIC", OLD)
        else:
            monkeypatch.delenv("TRANSCODER_TOPIC", raising=False)
        container = open_flywheel(make_settings(store_url), migrate=True)
        containers.append(container)
        return container

    yield open_with
    for container in containers:
        close_flywheel(container)


def transcoder_of(journeys: JourneyApplication) -> type:
    return type(journeys.mapper.transcoder)


def stored_states(journeys: JourneyApplication, user: str) -> list[bytes]:
    return [stored.state for stored in journeys.recorder.select_events(journey_id(user))]


def test_every_kind_of_journey_event_and_a_snapshot_is_stored_as_eventsourcing_writes_it(
    opened: Any,
) -> None:
    journeys = opened(old=False).journeys()
    assert transcoder_of(journeys) is CompiledJSONTranscoder
    journeys.fold([LETTER])
    journeys.fold([CV])
    topics = [s.topic for s in journeys.recorder.select_events(journey_id("u1"))]
    assert [topic.rpartition(".")[2] for topic in topics] == [
        "Started",
        "letters:LetterGenerated",
        "NudgeDetected",
        "cv:CvGenerated",
        "NudgeConverted",
    ]
    journey = journeys.get_journey("u1")
    assert journey is not None
    snapshot = journeys.mapper.to_stored_event(UserJourney.Snapshot.take(journey)).state
    reference = JSONTranscoder()
    journeys.register_transcodings(reference)
    for state in [*stored_states(journeys, "u1"), snapshot]:
        decoded = reference.decode(state)
        assert reference.encode(decoded) == state
        assert b'"_type_":"datetime_iso"' in state


def test_journeys_the_previous_release_stored_load_and_go_on_counting(opened: Any) -> None:
    old = opened(old=True).journeys()
    assert transcoder_of(old) is JSONTranscoder
    old.fold([LETTER, CV])
    written = stored_states(old, "u1")
    before = old.get_journey("u1")
    assert before is not None
    new = opened(old=False).journeys()
    assert transcoder_of(new) is CompiledJSONTranscoder
    loaded = new.get_journey("u1")
    assert loaded is not None
    assert (loaded.activity_by_type, loaded.nudges, loaded.daily, loaded.version) == (
        before.activity_by_type,
        before.nudges,
        before.daily,
        before.version,
    )
    new.fold([LATER])
    assert stored_states(new, "u1")[: len(written)] == written
    (journey,) = new.load_journeys(["u1"]).values()
    assert journey is not None
    assert journey.activity_by_type == {"letter.generated": 2, "cv.generated": 1}


def test_a_rollback_reads_what_the_compiled_transcoder_wrote(opened: Any) -> None:
    new = opened(old=False).journeys()
    new.fold([LETTER, CV])
    written = new.get_journey("u1")
    assert written is not None
    old = opened(old=True).journeys()
    loaded = old.get_journey("u1")
    assert loaded is not None
    assert (loaded.activity_by_type, loaded.nudges, loaded.first_at, loaded.last_at) == (
        written.activity_by_type,
        written.nudges,
        written.first_at,
        written.last_at,
    )
    assert loaded.modified_on == written.modified_on


def test_migrate_still_reads_the_applied_pairs_from_stored_activities(
    store_url: str, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = opened(old=False)
    container.journeys().fold([LETTER, CV, source(4, "cv.uploaded", "phoenix-cv", "u2")])
    postgres = store_url.startswith("postgres")
    name = f"{applied_events.schema}.{applied_events.name}" if postgres else applied_events.name
    with container.engine().begin() as connection:
        stored = set(connection.execute(select(applied_events)).all())
        # As a release before the table left the store: the pairs are only in the journeys.
        connection.execute(text(f"DROP TABLE {name}"))
        connection.execute(text("DELETE FROM phoenix_journey_entries"))
    assert stored == {("u1", "hash-1"), ("u1", "hash-2"), ("u2", "hash-4")}
    monkeypatch.setenv("DATABASE_URL", store_url)
    assert main(["migrate"]) == 0
    with container.engine().connect() as connection:
        assert set(connection.execute(select(applied_events)).all()) == stored


def test_what_neither_encoder_can_write_fails_as_eventsourcing_s_does() -> None:
    ours, theirs = CompiledJSONTranscoder(), JSONTranscoder()
    for value in ({"day": AT.date()}, {"set": {1, 2}}):
        for transcoder in (ours, theirs):
            with pytest.raises(TranscodingNotRegisteredError):
                transcoder.encode(value)
    beyond_64_bits = {"n": 2**70, "keys": {1: "one"}, "text": "é"}
    assert ours.encode(beyond_64_bits) == theirs.encode(beyond_64_bits)


def test_an_encoded_state_takes_the_memory_of_its_length() -> None:
    """The journeys' cache keeps one stored state per user: 10,000 of them at ~200 bytes
    must not take 4 KiB each (orjson's write buffer)."""
    transcoder = CompiledJSONTranscoder()
    transcoder.register(DatetimeAsISO())
    state = {"user_id": "u1", "event_hash": "h" * 64, "occurred_at": AT, "marks": []}
    tracemalloc.start()
    try:
        kept = [transcoder.encode({**state, "keep_days": n}) for n in range(10_000)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept[0]) < 300
    assert held < 10_000 * 500
