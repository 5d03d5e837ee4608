"""The story every feature's scenarios share, and the steps several features use; each
feature's own steps live in its test module (``test_<feature>.py``).

Scenarios go through the application layer of a real flywheel (real store, real
journeys); only the slow or failing analysis is a test double. Every scenario runs on
SQLite and on PostgreSQL (the ``store_url`` fixture).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from dependency_injector import providers
from pytest_bdd import given, parsers, then, when

from src.application.ports.analysers import EventAnalyser
from src.application.ports.inbox import RequeueSelection
from src.application.processing.summary import DrainSummary
from src.entrypoints.bootstrap import Container, build_container, close_flywheel, prepare_store
from tests.conftest import make_settings
from tests.fakes import FakeClock

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


@pytest.fixture(autouse=True)
def _capture_info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


# --- Given -----------------------------------------------------------------------------


@given(parsers.parse('{user} generated a cover letter for "{company}"'))
def generated_letter(story: Story, user: str, company: str) -> None:
    story.emit("letter.generated", LETTERS, user, payload={"company": company})


@given(parsers.parse("{user} uploaded her CV"))
@when(parsers.parse("{user} uploads her CV"))
def uploaded_cv(story: Story, user: str) -> None:
    story.emit("cv.uploaded", CV, user, payload={"pages": 2})


@given(parsers.parse("{count:d} users who each generated a cover letter"))
def many_letters(story: Story, count: int) -> None:
    for index in range(count):
        story.emit("letter.generated", LETTERS, f"user-{index}")


# --- When ------------------------------------------------------------------------------


@given("the flywheel processes the queue")
@when("the flywheel processes the queue")
def process_queue(story: Story) -> None:
    story.summary = asyncio.run(story.flywheel.processor().drain())


@when("all their events are processed again")
def processed_again(story: Story) -> None:
    requeued = story.flywheel.admin().force_reprocess(
        RequeueSelection(since=datetime(2000, 1, 1, tzinfo=UTC))
    )
    assert requeued > 0
    process_queue(story)


@given(parsers.parse("{app} shows {user} her nudge"))
@when(parsers.parse("{app} shows {user} her nudge"))
def show_nudge(story: Story, app: str, user: str) -> None:
    (nudge,) = story.flywheel.queries().list_active_nudges(user, APPS[app])
    story.flywheel.queries().record_nudge_shown(nudge.nudge_id)
    story.shown[user] = nudge.nudge_id


# --- Then ------------------------------------------------------------------------------


@then(parsers.parse("{user}'s journey holds {count:d} event"))
@then(parsers.parse("{user}'s journey holds {count:d} events"))
def journey_holds(story: Story, user: str, count: int) -> None:
    assert len(story.flywheel.queries().get_journey(user).events) == count


@then(parsers.parse("all {count:d} events are processed"))
@then(parsers.parse("{count:d} events are processed"))
def all_processed(story: Story, count: int) -> None:
    assert story.summary.processed == count
    assert story.flywheel.queries().get_queue_status().processed == count


@then(parsers.parse("{app} shows {user} no nudge"))
def shows_no_nudge(story: Story, app: str, user: str) -> None:
    assert story.flywheel.queries().list_active_nudges(user, APPS[app]) == []


@then(parsers.parse("the ecosystem counts {detected:d} nudge detected and {converted:d} converted"))
def ecosystem_nudges(story: Story, detected: int, converted: int) -> None:
    figures = story.flywheel.queries().get_ecosystem(30)
    assert (figures.nudges_detected, figures.nudges_converted) == (detected, converted)


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
