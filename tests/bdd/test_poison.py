"""Poison events (features/poison.feature): retried, then set aside, never blocking."""

from __future__ import annotations

from pytest_bdd import given, parsers, scenarios, then

from tests.bdd.conftest import CV, Story
from tests.fakes import FailingAnalyser

scenarios("poison.feature")


@given(parsers.parse("events are tried at most {attempts:d} times"))
def max_attempts(story: Story, attempts: int) -> None:
    story.overrides["event_max_attempts"] = attempts


@given(parsers.parse("an analysis that always fails for {user}"))
def failing_analysis(story: Story, user: str) -> None:
    story.add_analyser(FailingAnalyser({user}))


@given(parsers.parse("{count:d} other users each uploaded a CV"))
def many_cvs(story: Story, count: int) -> None:
    for index in range(count):
        story.emit("cv.uploaded", CV, f"other-{index}")


@then(parsers.parse("{user}'s event is dead after {attempts:d} attempts with its error kept"))
def poison_dead(story: Story, user: str, attempts: int) -> None:
    from sqlalchemy import select

    from src.adapters.sql.tables import events

    with story.flywheel.engine().connect() as connection:
        status, tries, error = connection.execute(
            select(events.c.status, events.c.attempts, events.c.ai_processing_error).where(
                events.c.user_id == user
            )
        ).one()
    assert (status, tries) == ("dead", attempts)
    assert "analyser exploded" in error
