"""The scenarios of features/insights.feature, with their own steps, on each store: the
built-in skills-gap analyser as the container wires it."""

from __future__ import annotations

from dependency_injector import providers
from pytest_bdd import given, parsers, scenarios, then, when

from tests.bdd.conftest import APPS, CV, LETTERS, Story

scenarios("insights.feature")


def skills(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


@given("the skills gap is analysed")
def skills_gap_on(story: Story) -> None:
    story.providers["analysers"] = lambda container: providers.List(container.skills_gap)


@given(parsers.parse('{user} had the {company} offer analysed, asking for "{wanted}"'))
def offer_analysed(story: Story, user: str, company: str, wanted: str) -> None:
    payload = {"offer_id": f"{company}-1", "company": company, "skills": skills(wanted)}
    story.emit("job_offer.analyzed", LETTERS, user, payload=payload)


@given(parsers.parse('{user} uploaded a CV showing "{shown}"'))
def cv_uploaded(story: Story, user: str, shown: str) -> None:
    story.emit("cv.uploaded", CV, user, payload={"skills": skills(shown)})


@when(parsers.parse('{user} generates a CV showing "{shown}"'))
def cv_generated(story: Story, user: str, shown: str) -> None:
    story.emit("cv.generated", CV, user, payload={"skills": skills(shown)})


@when(parsers.parse("{user} is forgotten"))
def forgotten(story: Story, user: str) -> None:
    report = story.flywheel.erasure().forget(user)
    assert report.insights >= 1


@then(parsers.parse('{user} is told "{message}"'))
def told(story: Story, user: str, message: str) -> None:
    newest = story.flywheel.queries().list_insights(user, "fr")[0]
    assert newest.message == message


@then(parsers.parse('in English "{message}"'))
def told_in_english(story: Story, message: str) -> None:
    newest = story.flywheel.queries().list_insights("Alice", "en")[0]
    assert newest.message == message


@then(parsers.parse("{user} is told nothing"))
def told_nothing(story: Story, user: str) -> None:
    assert story.flywheel.queries().list_insights(user, "fr") == []


@then(parsers.parse('{app} shows {user} the nudge "{nudge_type}"'))
def shows_nudge(story: Story, app: str, user: str, nudge_type: str) -> None:
    shown = story.flywheel.queries().list_active_nudges(user, APPS[app])
    assert [n.nudge_type for n in shown] == [nudge_type]


@then(parsers.parse('{user}\'s nudge "{nudge_type}" is converted'))
def converted(story: Story, user: str, nudge_type: str) -> None:
    journey = story.flywheel.queries().get_journey(user)
    assert [n.status for n in journey.nudges if n.nudge_type == nudge_type] == ["converted"]
