"""Phoenix Rise in the figures: its dry-runs from a known history (10 users the stress
rule would nudge, 5 of whom meditated afterwards), on SQLite and PostgreSQL; the
ecosystem counts users across the three apps alike in the API and in SQL; the journey
shows Rise events like the others."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings

NOW = datetime.now(UTC)
RISE, LETTERS, CV = "phoenix-rise", "phoenix-letters", "phoenix-cv"


def event(
    event_type: str, app: str, user: str, days_ago: float, key: str, **payload: Any
) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "app_source": app,
        "user_id": user,
        "payload": payload,
        "timestamp": (NOW - timedelta(days=days_ago)).isoformat(),
        "idempotency_key": key,
    }


def stressed(user: str, start: float) -> list[dict[str, Any]]:
    return [
        event("rise.journal_entry", RISE, user, start - day, f"j{day}", stress_level=8)
        for day in range(3)
    ]


def test_stress_relief_dry_run_ten_would_match_five_meditated_after(flywheel: Container) -> None:
    history: list[dict[str, Any]] = []
    for n in range(10):
        start = 70 - 6 * n
        history += stressed(f"stressed-{n}", start)
        if n % 2:
            history.append(event("rise.meditation", RISE, f"stressed-{n}", start - 3, "m"))
    for n in range(4):  # calm writers, and writers who meditated in the middle
        history += [
            event("rise.journal_entry", RISE, f"calm-{n}", 20 - d, f"j{d}", stress_level=4)
            for d in range(3)
        ]
        history += stressed(f"soothed-{n}", 20)
        history.append(event("rise.meditation", RISE, f"soothed-{n}", 19.5, "m"))
    flywheel.ingestion().publish(history)
    asyncio.run(flywheel.processor().drain())
    report = flywheel.dry_run().dry_run("stress_relief", 90)
    assert (report.would_target, report.converted_after) == (10, 5)
    assert report.already_targeted == 10
    assert report.users_scanned == 18
    assert sum(week.would_target for week in report.weeks) == 10


def test_letters_to_rise_dry_run_counts_any_rise_activity_as_acting(flywheel: Container) -> None:
    history = []
    for n in range(4):
        history += [
            event("letter.generated", LETTERS, f"writer-{n}", 40 - d, f"l{d}") for d in range(5)
        ]
        if n < 2:
            history.append(event("rise.coaching_session", RISE, f"writer-{n}", 30, "c"))
    flywheel.ingestion().publish(history)
    asyncio.run(flywheel.processor().drain())
    report = flywheel.dry_run().dry_run("letters_to_rise", 90)
    assert (report.would_target, report.converted_after) == (4, 2)


def test_the_journey_shows_rise_events_like_the_others(flywheel: Container) -> None:
    flywheel.ingestion().publish(
        [
            event("letter.generated", LETTERS, "u1", 2, "l"),
            event("rise.journal_entry", RISE, "u1", 1, "j", stress_level=3),
        ]
    )
    asyncio.run(flywheel.processor().drain())
    journey = flywheel.queries().get_journey("u1")
    assert journey.apps == (LETTERS, RISE)
    assert [(e.event_type, e.app_source) for e in journey.events] == [
        ("letter.generated", LETTERS),
        ("rise.journal_entry", RISE),
    ]


@pytest.mark.postgres
def test_users_across_the_three_apps_are_counted_alike_in_sql_and_api(postgres_url: str) -> None:
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        apps = {"L": ("letter.generated", LETTERS), "C": ("cv.uploaded", CV)}
        apps["R"] = ("rise.meditation", RISE)
        users = {"all": "LCR", "lc": "LC", "lr": "LR", "cr": "CR", "r": "R", "lc2": "LC"}
        container.ingestion().publish(
            [
                event(apps[a][0], apps[a][1], user, 1, a)
                for user, letters in users.items()
                for a in letters
            ]
        )
        asyncio.run(container.processor().drain())
        api = container.queries().get_ecosystem(30)
        with psycopg.connect(postgres_url) as connection:
            (sql,) = connection.execute("SELECT get_phoenix_ecosystem_stats(30)").fetchone()  # type: ignore[misc]
    finally:
        close_flywheel(container)
    expected = {
        "phoenix-cv+phoenix-letters": 3,
        "phoenix-cv+phoenix-rise": 2,
        "phoenix-letters+phoenix-rise": 2,
        "phoenix-cv+phoenix-letters+phoenix-rise": 1,
    }
    assert dict(api.app_combinations) == expected
    assert sql["app_combinations"] == expected
    assert sql["cross_app_users"] == api.cross_app_users == 5
