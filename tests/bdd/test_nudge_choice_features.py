"""The choice among nudges competing for a slot (features/nudge_choice.feature), on
SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pytest_bdd import given, parsers, scenarios, then, when

from src.domain.user_journey import nudge_id
from tests.bdd.conftest import LETTERS, Story

TOWARD = {"Phoenix CV": "letters_to_cv", "Phoenix Rise": "letters_to_rise"}
MORNING = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

scenarios("nudge_choice.feature")


def fresh(story: Story) -> Story:
    """The worker reads each type's conversions afresh for every batch: the scenario's
    batches follow each other within the seconds it would otherwise reuse them."""
    story.overrides.setdefault("nudge_choice_refresh_seconds", 0)
    return story


def drain(story: Story) -> None:
    asyncio.run(story.flywheel.processor().drain())


def write_letters(story: Story, user: str, count: int, **extra: object) -> None:
    for n in range(count):
        story.emit("letter.generated", LETTERS, user, idempotency_key=f"{user}-{n}", **extra)


@given(
    parsers.parse(
        "{count:d} letter writers were shown the nudge toward Phoenix CV and went on to use it"
    )
)
def converting_history(story: Story, count: int) -> None:
    fresh(story)
    for n in range(count):
        write_letters(story, f"cv-{n}", 1)
    drain(story)
    for n in range(count):
        story.flywheel.queries().record_nudge_shown(nudge_id(f"cv-{n}", "letters_to_cv"))
        story.emit("cv.uploaded", "phoenix-cv", f"cv-{n}")
    drain(story)


@given(
    parsers.parse(
        "{count:d} busy letter writers were shown the nudge toward Phoenix Rise and never went"
    )
)
def idle_history(story: Story, count: int) -> None:
    fresh(story)
    for n in range(count):
        write_letters(story, f"rise-{n}", 5)
    drain(story)
    for n in range(count):
        story.flywheel.queries().record_nudge_shown(nudge_id(f"rise-{n}", "letters_to_rise"))


@given(
    parsers.parse("{count:d} newcomers each write {letters:d} cover letters on the same morning")
)
@when(parsers.parse("{count:d} newcomers each write {letters:d} cover letters on the same morning"))
def newcomers(story: Story, count: int, letters: int) -> None:
    fresh(story)
    for n in range(count):
        at = (MORNING + timedelta(minutes=n)).isoformat()
        write_letters(story, f"new-{n}", letters, timestamp=at)
    drain(story)
    story.shown = {f"new-{n}": shown_to(story, f"new-{n}") for n in range(count)}


def shown_to(story: Story, user: str) -> str:
    (nudge,) = story.flywheel.queries().list_active_nudges(user, LETTERS)
    return nudge.nudge_type


@then(
    parsers.parse(
        "Phoenix Letters shows at least {least:d} of the newcomers the nudge toward {app}"
    )
)
def most_newcomers(story: Story, least: int, app: str) -> None:
    assert sum(1 for t in story.shown.values() if t == TOWARD[app]) >= least


@then(
    parsers.parse(
        "the experiments show the nudge toward {winner} won more slots than the one toward {loser}"
    )
)
def more_slots(story: Story, winner: str, loser: str) -> None:
    for user in story.shown:
        story.flywheel.queries().record_nudge_shown(nudge_id(user, story.shown[user]))
    slots = {s.nudge_type: s for s in story.flywheel.queries().list_nudge_choice()}
    won, lost = slots[TOWARD[winner]], slots[TOWARD[loser]]
    assert won.won > lost.won
    assert won.converted > lost.converted == 0


@then("each newcomer is shown the same nudge as before")
def same_nudge(story: Story) -> None:
    assert story.shown
    assert {user: shown_to(story, user) for user in story.shown} == story.shown
