"""The erasure scenarios of features/erasure.feature, with their own steps."""

from __future__ import annotations

import pytest
from pytest_bdd import parsers, scenarios, then, when

from src.application.errors import UserNotFoundError
from src.application.ports.erasure import ErasureReport
from tests.bdd.conftest import Story

scenarios("erasure.feature")


@pytest.fixture
def reports() -> list[ErasureReport]:
    return []


@when(parsers.parse("{user} asks to be forgotten"))
@when(parsers.parse("{user} asks to be forgotten again"))
def forget(story: Story, reports: list[ErasureReport], user: str) -> None:
    reports.append(story.flywheel.erasure().forget(user))


@then(parsers.parse("nothing about {user} remains"))
def nothing_remains(story: Story, reports: list[ErasureReport], user: str) -> None:
    (report,) = reports
    assert (report.events, report.journey_entries, report.nudges) == (2, 1, 1)
    with pytest.raises(UserNotFoundError):
        story.flywheel.queries().get_journey(user)
    for app in ("phoenix-letters", "phoenix-cv"):
        assert story.flywheel.queries().list_active_nudges(user, app) == []
    status = story.flywheel.queries().get_queue_status()
    assert (status.pending, status.processed) == (0, 1)  # Bob's only


@then(parsers.parse("the ecosystem counts {users:d} user and {events:d} event"))
def ecosystem_counts(story: Story, users: int, events: int) -> None:
    figures = story.flywheel.queries().get_ecosystem(30)
    assert (figures.unique_users, figures.total_events) == (users, events)


@then("nothing was removed the second time")
def second_time(reports: list[ErasureReport]) -> None:
    first, second = reports
    assert first.total > 0
    assert second == ErasureReport()


@then(parsers.parse("forgetting {user}, never seen, removes nothing"))
def never_seen(story: Story, user: str) -> None:
    assert story.flywheel.erasure().forget(user) == ErasureReport()
