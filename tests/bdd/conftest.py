"""Step definitions shared by the features, run on SQLite and on PostgreSQL.

Scenarios go through the application layer of a real flywheel (real store, real
journeys); only the slow or failing analysis is a test double.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from dependency_injector import providers
from pytest_bdd import given, parsers, then, when

from src.application.ports import EventAnalyser
from src.application.processor import DrainSummary
from src.application.worker import BackgroundWorker
from src.entrypoints.container import Container
from src.entrypoints.runtime import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.fakes import FailingAnalyser, RecordingAnalyser

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

    @property
    def flywheel(self) -> Container:
        if self._container is None:
            container = open_flywheel(make_settings(self.store_url, **self.overrides), migrate=True)
            container.analysers.override(
                providers.List(*(providers.Object(a) for a in self.analysers))
            )
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


@when(parsers.parse("{app} shows {user} her nudge"))
def show_nudge(story: Story, app: str, user: str) -> None:
    (nudge,) = story.flywheel.queries().list_active_nudges(user, APPS[app])
    story.flywheel.queries().record_nudge_shown(nudge.nudge_id)


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
        record.getMessage().startswith("event already processed (hash: ")
        for record in caplog.records
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


@then(parsers.parse('{app} shows {user} the nudge "{nudge_type}" saying "{message}"'))
def shows_nudge(story: Story, app: str, user: str, nudge_type: str, message: str) -> None:
    nudges = story.flywheel.queries().list_active_nudges(user, APPS[app])
    assert [(n.nudge_type, n.message) for n in nudges] == [(nudge_type, message)]


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
