"""Journey snapshots: taken each time a save passes a multiple of the interval, from the
journey just saved, and the same size however long the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from src.application.journeys import SNAPSHOT_INTERVAL, FoldResult, SourceEvent
from src.domain.apps import discover_apps
from src.domain.catalogue import Catalogue
from src.domain.user_journey import journey_id
from tests.fakes import fake_journeys

AT = datetime(2026, 3, 1, tzinfo=UTC)


def letters(start: int, count: int, user: str = "heavy") -> list[SourceEvent]:
    return [
        SourceEvent(
            n,
            f"hash-{n}",
            "letter.generated",
            "phoenix-letters",
            user,
            AT + timedelta(seconds=n),
        )
        for n in range(start, start + count)
    ]


def v1_catalogue() -> Catalogue:
    """Letters and CV only: the versions counted below include exactly one nudge."""
    return Catalogue(
        a for a in discover_apps() if a.app_source in ("phoenix-letters", "phoenix-cv")
    )


def test_a_long_journey_is_snapshotted_at_each_interval_and_reloads_whole() -> None:
    writer = fake_journeys(v1_catalogue())
    for start in range(0, 2_000, 100):
        writer.fold(letters(start, 100))
    assert writer.snapshots is not None
    snapshots = list(writer.snapshots.get(journey_id("heavy")))
    # Batch ends are at versions 102 (started, 100 letters, a nudge), 202, 302, …: each
    # snapshot is the first batch end at or past 200, 400, 600, …
    assert SNAPSHOT_INTERVAL == 200
    assert [s.originator_version for s in snapshots] == list(range(202, 2_003, 200))
    writer.repository.cache.get(journey_id("heavy"), evict=True)  # type: ignore[union-attr]
    reloaded = writer.get_journey("heavy")
    assert reloaded is not None
    assert reloaded.version == 2_002
    assert reloaded.activity_by_app == {"phoenix-letters": 2_000}
    again = writer.fold([*letters(0, 1), *letters(1_999, 1)])
    assert again == FoldResult(recorded=0, replayed=2, nudges_detected=0)


def last_snapshot_bytes(events: int) -> int:
    app = fake_journeys(v1_catalogue())
    for start in range(0, events, 1_000):
        app.fold(letters(start, 1_000))
    assert app.snapshots is not None
    *_, last = app.snapshots.get(journey_id("heavy"))
    return len(app.mapper.to_stored_event(last).state)


def test_a_journeys_snapshot_does_not_grow_with_its_history() -> None:
    """Ten times the events, the same snapshot (give or take the digits of the counts)."""
    short, long = last_snapshot_bytes(5_000), last_snapshot_bytes(50_000)
    assert long <= short * 1.05
