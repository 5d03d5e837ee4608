"""The worker's fold hands each event's payload to the rules, and keeps none of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from src.application.journeys import SourceEvent
from tests.fakes import fake_journeys
from tests.unit.domain.test_rules import CATALOGUE

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)


def mood(n: int, level: int) -> SourceEvent:
    return SourceEvent(
        n, f"h{n}", "mood.logged", "app-mood", "u1", AT + timedelta(days=n), {"mood": level}
    )


def test_payload_conditions_see_the_payload_of_each_folded_event() -> None:
    app = fake_journeys(CATALOGUE)
    app.fold([mood(1, 2), mood(2, 9), mood(3, 1)])
    assert app.fold([mood(4, 3)]).nudges_detected == 1
    journey = app.get_journey("u1")
    assert journey is not None
    assert sum(journey.daily["mood.logged[mood<=3]"].values()) == 3


def test_high_values_do_not_make_the_rule_due() -> None:
    app = fake_journeys(CATALOGUE)
    assert app.fold([mood(1, 8), mood(2, 9), mood(3, 7), mood(4, 6)]).nudges_detected == 0
