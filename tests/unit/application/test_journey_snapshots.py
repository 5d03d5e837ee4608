"""Journey snapshots: taken at doubling versions, from the journey just saved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from src.application.journeys import JourneyApplication, SourceEvent, snapshot_due_after
from src.domain.apps import discover_apps
from src.domain.catalogue import Catalogue
from src.domain.user_journey import journey_id

AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("version", "due"), [(0, 200), (199, 200), (200, 400), (401, 800), (5_000, 6_400)]
)
def test_snapshot_points_start_at_the_interval_and_double(version: int, due: int) -> None:
    assert snapshot_due_after(version) == due


def letters(start: int, count: int) -> list[SourceEvent]:
    return [
        SourceEvent(
            n,
            f"hash-{n}",
            "letter.generated",
            "phoenix-letters",
            "heavy",
            AT + timedelta(seconds=n),
        )
        for n in range(start, start + count)
    ]


def v1_catalogue() -> Catalogue:
    """Letters and CV only: the versions counted below include exactly one nudge."""
    return Catalogue(
        a for a in discover_apps() if a.app_source in ("phoenix-letters", "phoenix-cv")
    )


def test_a_long_journey_is_snapshotted_at_doubling_versions_and_reloads_whole() -> None:
    writer = JourneyApplication(v1_catalogue(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for start in range(0, 2_000, 100):
        writer.fold(letters(start, 100))
    assert writer.snapshots is not None
    snapshots = list(writer.snapshots.get(journey_id("heavy")))
    # Batch ends are at versions 102 (started, 100 letters, a nudge), 202, 302, …: each
    # snapshot is the first batch end at or past 200, 400, 800 and 1,600.
    assert [s.originator_version for s in snapshots] == [202, 402, 802, 1602]
    writer.repository.cache.get(journey_id("heavy"), evict=True)  # type: ignore[union-attr]
    reloaded = writer.get_journey("heavy")
    assert reloaded is not None
    assert reloaded.version == 2_002
    assert reloaded.activity_by_app == {"phoenix-letters": 2_000}
    assert reloaded.has_applied("hash-0")
    assert reloaded.has_applied("hash-1999")
