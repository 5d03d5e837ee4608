"""Phoenix Rise's scenarios (features/rise.feature), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pytest_bdd import given, parsers, scenarios, then, when

from tests.bdd.conftest import LETTERS, Story

RISE = "phoenix-rise"
APPS = {"Phoenix Rise": RISE, "Phoenix Letters": LETTERS}

scenarios("rise.feature")


def days_ago(days: int) -> str:
    # An hour back, so "0 days ago" is before the moment the nudge is shown.
    return (datetime.now(UTC) - timedelta(days=days, hours=1)).isoformat()


@given(parsers.parse("{user} wrote a journal entry with stress level {level:d}, {days:d} days ago"))
@when(parsers.parse("{user} writes a journal entry with stress level {level:d}, {days:d} days ago"))
def journal_entry(story: Story, user: str, level: int, days: int) -> None:
    story.emit(
        "rise.journal_entry",
        RISE,
        user,
        payload={"stress_level": level},
        timestamp=days_ago(days),
        idempotency_key=f"{level}-{days}",
    )


@given(parsers.parse("{user} meditated {days:d} days ago"))
def meditated(story: Story, user: str, days: int) -> None:
    story.emit("rise.meditation", RISE, user, timestamp=days_ago(days))


@when(parsers.parse("{user} meditates"))
def meditates(story: Story, user: str) -> None:
    story.emit("rise.meditation", RISE, user)


@when(parsers.parse("{user} has a coaching session"))
def coaching(story: Story, user: str) -> None:
    story.emit("rise.coaching_session", RISE, user)


@given(parsers.parse("{user} generated {count:d} cover letters over the last {days:d} days"))
def letters_burst(story: Story, user: str, count: int, days: int) -> None:
    for n in range(count):
        at = days_ago(days * n // max(count - 1, 1))
        story.emit("letter.generated", LETTERS, user, timestamp=at, idempotency_key=f"l{n}")


@given(parsers.parse("{user} generated a cover letter every {step:d} days, {count:d} times"))
def letters_spread(story: Story, user: str, step: int, count: int) -> None:
    for n in range(count):
        at = days_ago(step * n)
        story.emit("letter.generated", LETTERS, user, timestamp=at, idempotency_key=f"l{n}")


@given(parsers.parse("Phoenix Rise shows {user} the stress nudge"))
def show_stress(story: Story, user: str) -> None:
    nudges = story.flywheel.queries().list_active_nudges(user, RISE)
    assert [n.nudge_type for n in nudges] == ["stress_relief"]
    story.flywheel.queries().record_nudge_shown(nudges[0].nudge_id)


def nudge_status(story: Story, user: str, nudge_type: str) -> tuple[str, str] | None:
    journey = story.flywheel.queries().get_journey(user)
    found = [(n.shown_in, n.status) for n in journey.nudges if n.nudge_type == nudge_type]
    return found[0] if found else None


@then(parsers.parse('{user} has the nudge "{nudge_type}" waiting in {app}'))
def has_nudge(story: Story, user: str, nudge_type: str, app: str) -> None:
    assert nudge_status(story, user, nudge_type) == (APPS[app], "active")


@then(parsers.parse('{user} has no nudge "{nudge_type}"'))
def has_no_nudge(story: Story, user: str, nudge_type: str) -> None:
    assert nudge_status(story, user, nudge_type) is None


@then(parsers.parse('{user}\'s nudge "{nudge_type}" is converted'))
def is_converted(story: Story, user: str, nudge_type: str) -> None:
    status = nudge_status(story, user, nudge_type)
    assert status is not None
    assert status[1] == "converted"


@then(parsers.parse('{app} shows {user} the nudge "{nudge_type}" in one of its wordings'))
def shows_in_a_wording(story: Story, app: str, user: str, nudge_type: str) -> None:
    experiment = story.flywheel.experiments().get(nudge_type)
    assert experiment is not None
    wordings = {v.variant: v.message("fr") for v in experiment.variants}
    nudges = story.flywheel.queries().list_active_nudges(user, APPS[app])
    assert [n.nudge_type for n in nudges] == [nudge_type]
    assert nudges[0].message == wordings[nudges[0].variant]
