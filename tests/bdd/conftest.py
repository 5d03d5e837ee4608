"""Step definitions shared by the features, run on SQLite and on PostgreSQL.

Scenarios go through the application layer of a real flywheel (real store, real
journeys); only the slow or failing analysis is a test double.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from pytest_bdd import given, parsers, then, when

from src.adapters.toml_experiments import shipped_experiments_text
from src.application.experiments import VariantAssigner
from src.application.ports import EventAnalyser, RequeueSelection
from src.application.processor import DrainSummary
from src.application.worker import BackgroundWorker
from src.domain.apps import discover_apps
from src.domain.catalogue import AppModule, Catalogue, EventType
from src.domain.experiments import Experiment
from src.domain.nudges import CrossAppNudgeRule
from src.domain.user_journey import UserJourney
from src.entrypoints.container import Container, build_container
from src.entrypoints.runtime import close_flywheel, prepare_store
from tests.conftest import make_settings
from tests.fakes import FailingAnalyser, FakeClock, RecordingAnalyser
from tests.integration.nudge_store import back_date

LETTERS, CV = "phoenix-letters", "phoenix-cv"
APPS = {"Phoenix Letters": LETTERS, "Phoenix CV": CV}


class Story:
    """The flywheel of one scenario, opened on first use so Givens can tune it."""

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self.overrides: dict[str, Any] = {}
        self.analysers: list[EventAnalyser] = []
        self._container: Container | None = None
        self.last_append: tuple[int, int] = (0, 0)
        self.summary = DrainSummary()
        self.user_ids: dict[str, str] = {}
        # Providers replaced before the store opens (the journeys are built then), each
        # made from the container.
        self.providers: dict[str, Callable[[Container], providers.Provider[Any]]] = {}
        self.shown: dict[str, str] = {}
        self.clock: FakeClock | None = None

    @property
    def flywheel(self) -> Container:
        if self._container is None:
            container = build_container(make_settings(self.store_url, **self.overrides))
            container.analysers.override(
                providers.List(*(providers.Object(a) for a in self.analysers))
            )
            if self.clock is not None:
                container.clock.override(providers.Object(self.clock))
            for name, make in self.providers.items():
                getattr(container, name).override(make(container))
            try:
                prepare_store(container, migrate=True)
            except BaseException:
                container.engine().dispose()
                raise
            self._container = container
        return self._container

    def add_analyser(self, analyser: EventAnalyser) -> None:
        if self._container is not None:
            raise RuntimeError("a scenario must declare its analyses before its first event")
        self.analysers.append(analyser)

    def emit(self, event_type: str, app: str, user: str, **extra: Any) -> None:
        result = self.flywheel.ingestion().publish(
            [{"event_type": event_type, "app_source": app, "user_id": user, **extra}]
        )
        self.last_append = (result.accepted, result.duplicates)

    def close(self) -> None:
        if self._container is not None:
            close_flywheel(self._container)


@pytest.fixture(autouse=True)  # autouse, so pytest sees ``store_url`` and runs each store
def story(store_url: str) -> Iterator[Story]:
    current = Story(store_url)
    yield current
    current.close()


# --- Given -----------------------------------------------------------------------------


@given(parsers.parse('{user} generated a cover letter for "{company}"'))
def generated_letter(story: Story, user: str, company: str) -> None:
    story.emit("letter.generated", LETTERS, user, payload={"company": company})


@given(parsers.parse('{user} generated a cover letter for "{company}" as letter "{key}"'))
def generated_keyed_letter(story: Story, user: str, company: str, key: str) -> None:
    story.emit("letter.generated", LETTERS, user, payload={"company": company}, idempotency_key=key)


@given(parsers.parse("{user} uploaded her CV"))
@when(parsers.parse("{user} uploads her CV"))
def uploaded_cv(story: Story, user: str) -> None:
    story.emit("cv.uploaded", CV, user, payload={"pages": 2})


@given("an old client recorded the same CV upload without a hash")
def old_client_copy(story: Story) -> None:
    from sqlalchemy import insert

    from src.adapters.sql_tables import events

    with story.flywheel.engine().begin() as connection:
        connection.execute(
            insert(events).values(
                event_type="cv.uploaded", app_source=CV, user_id="Alice", payload={"pages": 2}
            )
        )


@given(parsers.parse("{count:d} users who each generated a cover letter"))
def many_letters(story: Story, count: int) -> None:
    for index in range(count):
        story.emit("letter.generated", LETTERS, f"user-{index}")


@given(parsers.parse("{count:d} other users each uploaded a CV"))
def many_cvs(story: Story, count: int) -> None:
    for index in range(count):
        story.emit("cv.uploaded", CV, f"other-{index}")


@given("an analysis that takes a moment for each event", target_fixture="recorder")
def slow_analysis(story: Story) -> RecordingAnalyser:
    analyser = RecordingAnalyser(delay=0.05)
    story.add_analyser(analyser)
    return analyser


@given(parsers.parse("an analysis that always fails for {user}"))
def failing_analysis(story: Story, user: str) -> None:
    story.add_analyser(FailingAnalyser({user}))


@given(parsers.parse("events are tried at most {attempts:d} times"))
def max_attempts(story: Story, attempts: int) -> None:
    story.overrides["event_max_attempts"] = attempts


@given("no worker is running")
def no_worker(story: Story) -> None:
    assert story.flywheel.queries().get_queue_status().processing == 0


@given(parsers.parse("the apps record {count:d} events for {users:d} users"))
def apps_record(story: Story, count: int, users: int) -> None:
    kinds = [("letter.generated", LETTERS), ("cv.uploaded", CV), ("job_offer.analyzed", LETTERS)]
    for index in range(count):
        event_type, app = kinds[index % len(kinds)]
        story.emit(event_type, app, f"user-{index % users}", idempotency_key=str(index))


# --- When ------------------------------------------------------------------------------


@given("the flywheel processes the queue")
@when("the flywheel processes the queue")
def process_queue(story: Story) -> None:
    story.summary = asyncio.run(story.flywheel.processor().drain())


@when("the same cover letter event is sent again")
def send_again(story: Story) -> None:
    story.emit("letter.generated", LETTERS, "Alice", payload={"company": "Airbus"})


@when("a worker starts")
def worker_starts(story: Story) -> None:
    worker = BackgroundWorker(story.flywheel.processor(), poll_interval_seconds=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if story.flywheel.queries().get_queue_status().pending == 0:
                break
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(timeout=30)


@given(parsers.parse("{app} shows {user} her nudge"))
@when(parsers.parse("{app} shows {user} her nudge"))
def show_nudge(story: Story, app: str, user: str) -> None:
    (nudge,) = story.flywheel.queries().list_active_nudges(user, APPS[app])
    story.flywheel.queries().record_nudge_shown(nudge.nudge_id)
    story.shown[user] = nudge.nudge_id


# --- Then ------------------------------------------------------------------------------


@then("the second copy was refused as a duplicate")
def refused(story: Story) -> None:
    assert story.last_append == (0, 1)


@then(parsers.parse("{user}'s journey holds {count:d} event"))
@then(parsers.parse("{user}'s journey holds {count:d} events"))
def journey_holds(story: Story, user: str, count: int) -> None:
    assert len(story.flywheel.queries().get_journey(user).events) == count


@then(
    parsers.parse(
        "{processed:d} event is processed and {duplicates:d} is recognised as a duplicate"
    )
)
def processed_and_duplicates(story: Story, processed: int, duplicates: int) -> None:
    assert (story.summary.processed, story.summary.duplicates) == (processed, duplicates)


@then("the log says the event was already processed")
def log_says(story: Story, caplog: pytest.LogCaptureFixture) -> None:
    assert any(
        record.getMessage().startswith("Événement déjà traité (hash: ") for record in caplog.records
    )


@then(parsers.parse("all {count:d} events are processed"))
@then(parsers.parse("{count:d} events are processed"))
def all_processed(story: Story, count: int) -> None:
    assert story.summary.processed == count
    assert story.flywheel.queries().get_queue_status().processed == count


@then(parsers.parse("exactly {count:d} events were analysed at the same time"))
def concurrency(recorder: RecordingAnalyser, count: int) -> None:
    assert recorder.max_running == count


@then(parsers.parse("all {count:d} events are processed without anyone asking"))
def processed_by_worker(story: Story, count: int) -> None:
    assert story.flywheel.queries().get_queue_status().processed == count


@then("nothing is left waiting in the queue")
def queue_empty(story: Story) -> None:
    status = story.flywheel.queries().get_queue_status()
    assert (status.pending, status.processing, status.oldest_pending_age_seconds) == (0, 0, None)


@then(parsers.parse("{app} shows {user} no nudge"))
def shows_no_nudge(story: Story, app: str, user: str) -> None:
    assert story.flywheel.queries().list_active_nudges(user, APPS[app]) == []


@then(parsers.parse("the ecosystem counts {detected:d} nudge detected and {converted:d} converted"))
def ecosystem_nudges(story: Story, detected: int, converted: int) -> None:
    figures = story.flywheel.queries().get_ecosystem(30)
    assert (figures.nudges_detected, figures.nudges_converted) == (detected, converted)


@then(parsers.parse("{user}'s event is dead after {attempts:d} attempts with its error kept"))
def poison_dead(story: Story, user: str, attempts: int) -> None:
    from sqlalchemy import select

    from src.adapters.sql_tables import events

    with story.flywheel.engine().connect() as connection:
        status, tries, error = connection.execute(
            select(events.c.status, events.c.attempts, events.c.ai_processing_error).where(
                events.c.user_id == user
            )
        ).one()
    assert (status, tries) == ("dead", attempts)
    assert "analyser exploded" in error


@pytest.fixture(autouse=True)
def _capture_info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


# --- Experiments on nudge messages -------------------------------------------------------


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


@given("the calendar starts today")
def calendar(story: Story) -> None:
    story.clock = FakeClock(datetime.now(UTC))


@given("Phoenix Letters has a second nudge for letter writers")
def second_nudge(story: Story) -> None:
    story.providers["catalogue"] = lambda _c: providers.Object(Catalogue([*discover_apps(), COACH]))


@given(parsers.parse("conversions count for {days:d} days after the nudge is seen"))
def attribution_window(story: Story, days: int) -> None:
    story.overrides["nudge_attribution_days"] = days


@when("all their events are processed again")
def processed_again(story: Story) -> None:
    requeued = story.flywheel.admin().force_reprocess(
        RequeueSelection(since=datetime(2000, 1, 1, tzinfo=UTC))
    )
    assert requeued > 0
    process_queue(story)


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


# --- Then (experiments) ------------------------------------------------------------------


@then(parsers.parse('{app} shows {user} the nudge "{nudge_type}" in the wording of her variant'))
def shows_nudge_in_variant(story: Story, app: str, user: str, nudge_type: str) -> None:
    (nudge,) = story.flywheel.queries().list_active_nudges(user, APPS[app])
    experiment = story.flywheel.experiments().get(nudge_type)
    assert experiment is not None
    variant = experiment.get(experiment.sticky(user))
    assert variant is not None
    assert (nudge.nudge_type, nudge.variant, nudge.message) == (
        nudge_type,
        variant.variant,
        variant.message("fr"),
    )


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


@then(
    parsers.re(
        r"the ecosystem counts (?P<shown>\d+) nudges? seen, (?P<converted>\d+) converted "
        r"and (?P<organic>\d+) organic"
    )
)
def ecosystem_funnel(story: Story, shown: str, converted: str, organic: str) -> None:
    figures = story.flywheel.queries().get_ecosystem(30)
    assert (figures.nudges_shown, figures.nudges_converted, figures.nudges_organic) == (
        int(shown),
        int(converted),
        int(organic),
    )


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
