"""Two workers folding the same user's journey: the stale one reloads, nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

import pytest

from src.adapters.sql.eventsourcing_env import eventsourcing_env
from src.adapters.sqlalchemy_journey_history import SqlAlchemyJourneyHistory
from src.application.journeys import FoldResult, JourneyApplication, SourceEvent
from src.domain.apps import default_catalogue, discover_apps
from src.domain.catalogue import Catalogue
from src.entrypoints.bootstrap import Container, build_container, close_flywheel, open_flywheel
from tests.conftest import make_settings

AT = datetime(2026, 1, 1, tzinfo=UTC)


def source(
    n: int, app: str = "phoenix-letters", event_type: str = "letter.generated"
) -> SourceEvent:
    return SourceEvent(n, f"hash-{n}", event_type, app, "shared-user", AT)


def journeys(store_url: str, container: Container, *, bulk: bool = True) -> JourneyApplication:
    """A journeys application as a worker builds it: loading in bulk, or one by one.

    Letters and CV only: the versions counted here include exactly the v1 nudges.
    """
    history = partial(SqlAlchemyJourneyHistory.for_application, container.engine())
    v1 = Catalogue(a for a in discover_apps() if a.app_source in ("phoenix-letters", "phoenix-cv"))
    return JourneyApplication(
        v1,
        env=eventsourcing_env(store_url),
        history=history if bulk else None,
        applied_events=container.applied_events(),
    )


@pytest.fixture
def two_workers(store_url: str) -> Iterator[tuple[JourneyApplication, JourneyApplication]]:
    container = open_flywheel(make_settings(store_url), migrate=True)
    first = journeys(store_url, container)
    second = journeys(store_url, container)
    try:
        yield first, second
    finally:
        first.close()
        second.close()
        close_flywheel(container)


def test_a_stale_cached_journey_is_reloaded_on_conflict(
    two_workers: tuple[JourneyApplication, JourneyApplication], store_url: str
) -> None:
    first, second = two_workers
    first.fold([source(1)])  # the first worker now caches the journey at its version
    second.fold([source(2, "phoenix-cv", "cv.uploaded")])  # ... which the second moves on
    result = first.fold([source(3)])  # stale cache: conflict, evict, reload, fold again
    assert result.recorded == 1
    reading = build_container(make_settings(store_url))
    fresh = JourneyApplication(
        default_catalogue(),
        env=eventsourcing_env(store_url),
        applied_events=reading.applied_events(),
    )
    journey = fresh.get_journey("shared-user")  # one by one, through the repository
    fresh.close()
    reading.engine().dispose()
    assert journey is not None
    assert journey.activity_by_app == {"phoenix-letters": 2, "phoenix-cv": 1}
    assert journey.nudges["letters_to_cv"]["status"] == "converted"


def test_a_replayed_batch_records_nothing_twice(
    two_workers: tuple[JourneyApplication, JourneyApplication],
) -> None:
    first, second = two_workers
    first.fold([source(1), source(2)])
    replay = second.fold([source(1), source(2)])
    assert (replay.recorded, replay.replayed) == (0, 2)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "one-by-one"])
def test_a_heavy_users_journey_loads_from_a_snapshot(store_url: str, bulk: bool) -> None:
    container = open_flywheel(make_settings(store_url), migrate=True)
    writer = journeys(store_url, container)
    try:
        for start in range(0, 450, 50):
            writer.fold([source(n) for n in range(start, start + 50)])
        reader = journeys(store_url, container, bulk=bulk)
        snapshots = reader.snapshots.get(writer.get_journey("shared-user").id)  # type: ignore[union-attr]
        journey = reader.load_journeys(["shared-user", "nobody"])
        again = reader.fold([source(0), source(449)])
        reader.close()
    finally:
        writer.close()
        close_flywheel(container)
    assert [s.originator_version for s in snapshots] == [202, 402]  # batch ends past 200, 400
    loaded = journey["shared-user"]
    assert loaded is not None
    assert loaded.activity_by_app == {"phoenix-letters": 450}
    assert loaded.version == 452  # started, 450 activities, one nudge
    assert again == FoldResult(recorded=0, replayed=2, nudges_detected=0)
    assert journey["nobody"] is None
