"""Experiments on nudge messages (features/experiments.feature): wordings, exposure,
attribution, the daily cap and the bandit."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dependency_injector import providers
from pytest_bdd import given, parsers, scenarios, then, when

from src.adapters.toml_experiments import shipped_experiments_text
from src.application.experiments import VariantAssigner
from src.domain.apps import discover_apps
from src.domain.catalogue import AppModule, Catalogue, EventType
from src.domain.experiments import Experiment
from src.domain.nudges import CrossAppNudgeRule
from src.domain.user_journey import UserJourney
from tests.bdd.conftest import APPS, CV, LETTERS, Story, process_queue, uploaded_cv
from tests.fakes import FakeClock
from tests.integration.nudge_store import back_date

scenarios("experiments.feature")


class CoachSession(UserJourney.ActivityRecorded):
    """A session in a coaching app that exists only in these scenarios."""


COACH = AppModule(
    app_source="phoenix-coach",
    title="Phoenix Coach (scenarios only)",
    event_types=(EventType("coach.session", CoachSession),),
    nudge_rules=(
        CrossAppNudgeRule(
            nudge_type="letters_to_coach",
            shown_in=LETTERS,
            target_app="phoenix-coach",
            messages={"fr": "Préparez vos entretiens avec un coach !"},
        ),
    ),
)


def letters_experiment(story: Story) -> Experiment:
    experiment = story.flywheel.experiments().get("letters_to_cv")
    assert experiment is not None
    return experiment


# --- Given / When ----------------------------------------------------------------------


@given("the calendar starts today")
def calendar(story: Story) -> None:
    story.clock = FakeClock(datetime.now(UTC))


@given("Phoenix Letters has a second nudge for letter writers")
def second_nudge(story: Story) -> None:
    story.providers["catalogue"] = lambda _c: providers.Object(Catalogue([*discover_apps(), COACH]))


@given(parsers.parse("conversions count for {days:d} days after the nudge is seen"))
def attribution_window(story: Story, days: int) -> None:
    story.overrides["nudge_attribution_days"] = days


@when(parsers.parse("{app} shows {user} the same nudge again"))
def show_again(story: Story, app: str, user: str) -> None:
    story.flywheel.queries().record_nudge_shown(story.shown[user])


@when(parsers.parse("{app} shows {user} her first nudge"))
def show_first(story: Story, app: str, user: str) -> None:
    nudges = story.flywheel.queries().list_active_nudges(user, APPS[app])
    assert len(nudges) == 1, "the cap lets one nudge through"
    story.flywheel.queries().record_nudge_shown(nudges[0].nudge_id)


@given(parsers.parse("{user} uploads her CV"))
def uploads_cv_given(story: Story, user: str) -> None:
    uploaded_cv(story, user)


@when(parsers.parse("{user} uploads her CV {days:d} days later"))
def uploads_cv_later(story: Story, user: str, days: int) -> None:
    later = datetime.now(UTC) + timedelta(days=days)
    story.emit("cv.uploaded", CV, user, payload={"pages": 2}, timestamp=later.isoformat())


@given(
    parsers.parse(
        'the "{nudge_type}" experiment is a bandit keeping at least {share:d} % of users '
        "on each wording"
    )
)
def bandit(story: Story, tmp_path: Path, nudge_type: str, share: int) -> None:
    text = shipped_experiments_text().replace(
        f'[{nudge_type}]\nmode = "ab"',
        f'[{nudge_type}]\nmode = "bandit"\nmin_share = {share / 100}',
    )
    assert 'mode = "bandit"' in text
    path = tmp_path / "experiments.toml"
    path.write_text(text, encoding="utf-8")
    story.overrides["nudge_experiments_file"] = path
    # The bandit reads the latest figures at every detection, not every few seconds.
    story.providers["assigner"] = lambda c: providers.Singleton(
        VariantAssigner,
        c.experiments,
        c.read_models,
        c.clock,
        c.board,
        refresh=timedelta(0),
    )


@given(
    parsers.parse(
        'users act on wording "{good}" {good_rate:d} % of the time and on "{poor}" '
        "{poor_rate:d} % of the time"
    ),
    target_fixture="act_rates",
)
def act_rates(good: str, good_rate: int, poor: str, poor_rate: int) -> dict[str, float]:
    return {good: good_rate / 100, poor: poor_rate / 100}


@when(
    parsers.parse("{count:d} letter writers arrive in groups of {size:d}, each shown the nudge"),
    target_fixture="given_wordings",
)
def simulated_population(
    story: Story, act_rates: dict[str, float], count: int, size: int
) -> list[str]:
    chance = random.Random(2026)  # the simulated population is the same at every run
    container = story.flywheel
    given: list[str] = []
    for start in range(0, count, size):
        users = [f"writer-{index:04d}" for index in range(start, start + size)]
        for user in users:
            story.emit("letter.generated", LETTERS, user)
        process_queue(story)
        for user in users:
            (nudge,) = container.queries().list_active_nudges(user, LETTERS)
            container.queries().record_nudge_shown(nudge.nudge_id)
            given.append(nudge.variant)
            if chance.random() < act_rates[nudge.variant]:
                story.emit("cv.uploaded", CV, user)
        process_queue(story)
    return given


# --- Then ------------------------------------------------------------------------------


@then("each user is shown the wording the A/B split gives them")
def sticky(story: Story) -> None:
    experiment = letters_experiment(story)
    for index in range(40):
        user = f"user-{index}"
        (nudge,) = story.flywheel.queries().list_active_nudges(user, LETTERS)
        assert nudge.variant == experiment.sticky(user)
        again = story.flywheel.queries().list_active_nudges(user, LETTERS)
        assert [n.variant for n in again] == [nudge.variant]


@then(parsers.parse('both wordings of "{nudge_type}" are shown to some users'))
def both_wordings(story: Story, nudge_type: str) -> None:
    counts = story.flywheel.read_models().experiment_counts()[nudge_type]
    assert len(counts) == 2
    assert all(c.assigned > 0 for c in counts.values())


@then(
    parsers.re(
        r'the "(?P<nudge_type>\w+)" experiment counts (?P<exposed>\d+) users? who saw the '
        r"nudge and (?P<converted>\d+) who acted on it"
    )
)
def experiment_counts(story: Story, nudge_type: str, exposed: str, converted: str) -> None:
    (report,) = [
        r for r in story.flywheel.queries().list_experiments() if r.nudge_type == nudge_type
    ]
    assert sum(v.exposed for v in report.variants) == int(exposed)
    assert sum(v.converted for v in report.variants) == int(converted)


@then(parsers.parse("{user}'s conversion is counted for the wording she was shown"))
def conversion_for_wording(story: Story, user: str) -> None:
    variant = letters_experiment(story).sticky(user)
    (report,) = [
        r for r in story.flywheel.queries().list_experiments() if r.nudge_type == "letters_to_cv"
    ]
    assert {v.variant: v.converted for v in report.variants}[variant] == 1


@then(parsers.parse("the next day {app} shows {user} {count:d} nudge"))
def next_day(story: Story, app: str, user: str, count: int) -> None:
    back_date(story.flywheel.engine(), timedelta(hours=25))
    assert len(story.flywheel.queries().list_active_nudges(user, APPS[app])) == count


@then(
    parsers.parse(
        'wording "{variant}" was given to more than {share:d} % of the last {last:d} of them'
    )
)
def bandit_shifted(given_wordings: list[str], variant: str, share: int, last: int) -> None:
    recent = given_wordings[-last:]
    assert recent.count(variant) > share / 100 * len(recent), Counter(recent)
