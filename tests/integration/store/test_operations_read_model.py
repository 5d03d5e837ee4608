"""The dashboard's figures (``OperationsReadModel``) on each real store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from src.adapters.sql.tables import events
from src.entrypoints.bootstrap import Container
from tests.conftest import as_stored_before_the_check


def publish(flywheel: Container, event_type: str, app: str, user: str, at: datetime) -> None:
    flywheel.ingestion().publish(
        [{"event_type": event_type, "app_source": app, "user_id": user, "timestamp": at}]
    )


def drain(flywheel: Container) -> None:
    asyncio.run(flywheel.processor().drain())


def test_users_funnel_and_errors(flywheel: Container) -> None:
    now = datetime.now(UTC)
    for user in ("u1", "u2", "u3"):
        publish(flywheel, "letter.generated", "phoenix-letters", user, now - timedelta(hours=3))
    publish(flywheel, "cv.uploaded", "phoenix-cv", "u4", now - timedelta(hours=3))
    drain(flywheel)
    queries = flywheel.queries()
    (shown,) = queries.list_active_nudges("u3", "phoenix-letters")
    queries.record_nudge_shown(shown.nudge_id)
    # u3 acts after seeing the nudge (a conversion); u2 without having seen it (organic).
    publish(flywheel, "cv.uploaded", "phoenix-cv", "u2", now + timedelta(seconds=1))
    publish(flywheel, "cv.uploaded", "phoenix-cv", "u3", now + timedelta(seconds=1))
    with flywheel.engine().begin() as connection:  # an unknown type, stored long ago
        as_stored_before_the_check(connection)
        connection.execute(
            events.insert().values(
                event_type="letter.sent", app_source="phoenix-letters", user_id="u5", payload={}
            )
        )
    drain(flywheel)
    operations = flywheel.operations()
    since = now - timedelta(days=1)

    assert operations.users_by_app(since) == {"phoenix-cv": 3, "phoenix-letters": 3}
    assert operations.users_by_app(now + timedelta(hours=1)) == {}
    funnel = {row.nudge_type: row for row in operations.nudge_funnel(since)}
    assert sorted(funnel) == ["cv_to_letters", "letters_to_cv"]
    letters = funnel["letters_to_cv"]
    assert (letters.detected, letters.exposed, letters.converted, letters.organic) == (3, 1, 1, 1)
    cv = funnel["cv_to_letters"]
    assert (cv.detected, cv.exposed, cv.converted, cv.organic) == (1, 0, 0, 0)
    (error,) = operations.recent_errors(10)
    assert (error.event_type, error.status) == (
        "letter.sent",
        "dead",
    )
    assert "letter.sent" in error.error
    assert error.attempts == 1


def test_the_funnel_attributes_like_the_figures_of_the_api(flywheel: Container) -> None:
    """An action past the attribution window is organic on the page as in the API."""
    now = datetime.now(UTC)
    publish(flywheel, "letter.generated", "phoenix-letters", "late", now - timedelta(hours=1))
    drain(flywheel)
    queries = flywheel.queries()
    (shown,) = queries.list_active_nudges("late", "phoenix-letters")
    queries.record_nudge_shown(shown.nudge_id)
    publish(flywheel, "cv.uploaded", "phoenix-cv", "late", now + timedelta(days=8))
    drain(flywheel)

    (row,) = flywheel.operations().nudge_funnel(now - timedelta(days=1))
    figures = queries.get_ecosystem(30)
    assert (row.exposed, row.converted, row.organic) == (1, 0, 1)
    assert (figures.nudges_shown, figures.nudges_converted, figures.nudges_organic) == (1, 0, 1)
