"""One contract for every ``ReadModelStore``: the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from src.application.ports.nudges import NudgeRecord
from src.application.ports.read_models import JourneyEntry, ReadModelChanges, ReadModelStore
from tests.integration.store.conftest import T0


def entry(user: str, app: str, event_type: str, n: int, days_ago: int = 0) -> JourneyEntry:
    return JourneyEntry(user, f"hash-{user}-{n}", event_type, app, T0 - timedelta(days=days_ago))


def nudge(user: str, nudge_type: str = "letters_to_cv") -> NudgeRecord:
    return NudgeRecord(
        nudge_id=f"{user}-{nudge_type}",
        user_id=user,
        nudge_type=nudge_type,
        shown_in="phoenix-letters",
        target_app="phoenix-cv",
        status="active",
        detected_at=T0,
    )


def project(store: ReadModelStore, changes: ReadModelChanges) -> None:
    with store.projection("test") as transaction:
        transaction.write(changes, transaction.position + 1)


def test_the_position_moves_with_the_views(read_models: ReadModelStore) -> None:
    with read_models.projection("test") as transaction:
        assert transaction.position == 0
        transaction.write(
            ReadModelChanges(entries=[entry("u1", "phoenix-cv", "cv.uploaded", 1)]), 7
        )
    with read_models.projection("test") as transaction:
        assert transaction.position == 7
    journey = read_models.get_journey("u1")
    assert journey is not None
    assert journey.apps == ("phoenix-cv",)


def test_writing_the_same_changes_twice_counts_once(read_models: ReadModelStore) -> None:
    changes = ReadModelChanges(
        entries=[entry("u1", "phoenix-letters", "letter.generated", 1)], nudges=[nudge("u1")]
    )
    project(read_models, changes)
    project(read_models, changes)
    figures = read_models.ecosystem(T0 - timedelta(days=30), 30)
    assert (figures.total_events, figures.nudges_detected) == (1, 1)


def test_journey_lists_events_in_time_order_with_nudges(read_models: ReadModelStore) -> None:
    project(
        read_models,
        ReadModelChanges(
            entries=[
                entry("u1", "phoenix-letters", "letter.generated", 1, days_ago=0),
                entry("u1", "phoenix-cv", "cv.uploaded", 2, days_ago=2),
            ],
            nudges=[nudge("u1")],
        ),
    )
    journey = read_models.get_journey("u1")
    assert journey is not None
    assert [e.event_type for e in journey.events] == ["cv.uploaded", "letter.generated"]
    assert journey.apps == ("phoenix-cv", "phoenix-letters")
    assert [n.nudge_type for n in journey.nudges] == ["letters_to_cv"]
    assert journey.events[0].timestamp == T0 - timedelta(days=2)
    assert read_models.get_journey("nobody") is None


def test_a_conversion_moves_the_nudge_out_of_the_active_ones(read_models: ReadModelStore) -> None:
    project(read_models, ReadModelChanges(nudges=[nudge("u1"), nudge("u2")]))
    project(read_models, ReadModelChanges(conversions=[("u2-letters_to_cv", T0)]))
    journeys = [read_models.get_journey(user) for user in ("u1", "u2")]
    assert [(j.nudges[0].status, j.nudges[0].converted_at) for j in journeys if j] == [
        ("active", None),
        ("converted", T0),
    ]


def test_ecosystem_figures_count_the_period_only(
    read_models: ReadModelStore, show: Callable[[str, datetime], None]
) -> None:
    project(
        read_models,
        ReadModelChanges(
            entries=[
                entry("u1", "phoenix-letters", "letter.generated", 1),
                entry("u1", "phoenix-cv", "cv.uploaded", 2),
                entry("u2", "phoenix-letters", "letter.generated", 3),
                entry("u3", "phoenix-cv", "cv.generated", 4, days_ago=40),
            ],
            nudges=[nudge("u2")],
        ),
    )
    show("u2-letters_to_cv", T0)
    figures = read_models.ecosystem(T0 - timedelta(days=30), 30)
    assert figures.period_days == 30
    assert (figures.total_events, figures.unique_users, figures.cross_app_users) == (3, 2, 1)
    assert dict(figures.events_by_app) == {"phoenix-cv": 1, "phoenix-letters": 2}
    assert dict(figures.events_by_type) == {"cv.uploaded": 1, "letter.generated": 2}
    assert (figures.nudges_detected, figures.nudges_shown, figures.nudges_converted) == (1, 1, 0)


def variant_nudge(user: str, variant: str) -> NudgeRecord:
    return NudgeRecord(
        nudge_id=f"{user}-letters_to_cv",
        user_id=user,
        nudge_type="letters_to_cv",
        shown_in="phoenix-letters",
        target_app="phoenix-cv",
        status="active",
        detected_at=T0,
        variant=variant,
    )


def test_exposure_and_attribution_per_variant(
    read_models: ReadModelStore, show: Callable[[str, datetime], None]
) -> None:
    """a: shown then acted (converted); b: shown twice, acted 9 days later (organic);
    c: acted, then shown (no exposure, organic); d: shown, not acted; e: not shown."""
    users = {"a": "x", "b": "x", "c": "y", "d": "y", "e": "y"}
    project(read_models, ReadModelChanges(nudges=[variant_nudge(u, v) for u, v in users.items()]))
    hour = timedelta(hours=1)
    show("a-letters_to_cv", T0 + hour)
    show("b-letters_to_cv", T0 + hour)
    show("b-letters_to_cv", T0 + 2 * hour)
    show("c-letters_to_cv", T0 + 3 * hour)
    show("d-letters_to_cv", T0 + hour)
    project(
        read_models,
        ReadModelChanges(
            conversions=[
                ("a-letters_to_cv", T0 + 2 * hour),
                ("b-letters_to_cv", T0 + timedelta(days=9)),
                ("c-letters_to_cv", T0 + 2 * hour),
            ]
        ),
    )
    counts = read_models.experiment_counts()["letters_to_cv"]  # a window of 7 days
    assert (counts["x"].assigned, counts["x"].exposed, counts["x"].converted) == (2, 2, 1)
    assert (counts["y"].assigned, counts["y"].exposed, counts["y"].converted) == (3, 1, 0)
    figures = read_models.ecosystem(T0 - timedelta(days=30), 30)
    assert (figures.nudges_detected, figures.nudges_shown) == (5, 3)
    assert (figures.nudges_converted, figures.nudges_organic) == (1, 2)


def test_ecosystem_counts_users_for_every_combination_of_apps(read_models: ReadModelStore) -> None:
    apps = {"a": "phoenix-letters", "b": "phoenix-cv", "c": "phoenix-coach"}
    users = {"u1": "abc", "u2": "ab", "u3": "bc", "u4": "c", "u5": "ac", "u6": "ab"}
    project(
        read_models,
        ReadModelChanges(
            entries=[
                entry(user, apps[letter], f"{apps[letter]}.used", n * 10 + i)
                for n, (user, letters) in enumerate(sorted(users.items()))
                for i, letter in enumerate(letters)
            ]
        ),
    )
    figures = read_models.ecosystem(T0 - timedelta(days=30), 30)
    assert dict(figures.app_combinations) == {
        "phoenix-coach+phoenix-cv": 2,
        "phoenix-coach+phoenix-letters": 2,
        "phoenix-cv+phoenix-letters": 3,
        "phoenix-coach+phoenix-cv+phoenix-letters": 1,
    }
    assert figures.cross_app_users == 5
