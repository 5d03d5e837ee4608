"""Rules over counts within a window, payload values, "and not" and "unless since".

A catalogue of two made-up apps, so these tests say what the core does for any app.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from src.domain.catalogue import AppModule, Catalogue, EventType, PayloadField
from src.domain.errors import PayloadInvalidError
from src.domain.rules import ActiveIn, ActivityNudgeRule, Count, RuleInvalidError, Where
from src.domain.user_journey import UserJourney


class MoodLogged(UserJourney.ActivityRecorded):
    """A test app's payload-carrying event."""


class WalkTaken(UserJourney.ActivityRecorded):
    """A test app's relief event."""


class PostWritten(UserJourney.ActivityRecorded):
    """Another app's event."""


LOW_MOOD = ActivityNudgeRule(
    nudge_type="low_mood",
    shown_in="app-mood",
    target_app="app-mood",
    when=(Count(("mood.logged",), at_least=3, within_days=7, where=(Where("mood", "<=", 3),)),),
    unless_since=("walk.taken",),
    converts_on=("walk.taken",),
    messages={"fr": "Une marche ?"},
)
WRITERS = ActivityNudgeRule(
    nudge_type="writers_to_mood",
    shown_in="app-blog",
    target_app="app-mood",
    when=(Count(("post.written",), at_least=2, within_days=3),),
    unless=(ActiveIn("app-mood"),),
    messages={"fr": "Et votre humeur ?"},
)
CATALOGUE = Catalogue(
    [
        AppModule(
            "app-mood",
            "Mood",
            (
                EventType(
                    "mood.logged",
                    MoodLogged,
                    payload_fields=(PayloadField("mood", "integer", 0, 10),),
                ),
                EventType("walk.taken", WalkTaken),
            ),
            (LOW_MOOD,),
        ),
        AppModule("app-blog", "Blog", (EventType("post.written", PostWritten),), (WRITERS,)),
    ]
)
APPS = {"mood.logged": "app-mood", "walk.taken": "app-mood", "post.written": "app-blog"}
DAY1 = datetime(2026, 3, 2, 9, tzinfo=UTC)


class Journal:
    """Folds events as the worker does: record, then detect, at the event's time."""

    def __init__(self) -> None:
        self.journey = UserJourney(user_id="u1")
        self.count = 0
        self.detected: list[str] = []

    def add(self, event_type: str, at: datetime, **payload: object) -> None:
        self.count += 1
        entry = CATALOGUE.event_type(event_type, APPS[event_type])
        self.journey.record(
            entry.journey_event,
            event_hash=f"h{self.count}",
            event_type=event_type,
            app_source=APPS[event_type],
            occurred_at=at,
            marks=CATALOGUE.marks_for(event_type, payload),
            keep_days=CATALOGUE.window_days,
        )
        self.detected += self.journey.detect_nudges(CATALOGUE.nudge_rules, at)


def test_three_low_payload_values_within_the_window_make_the_rule_due() -> None:
    journal = Journal()
    journal.add("mood.logged", DAY1, mood=2)
    journal.add("mood.logged", DAY1 + timedelta(days=2), mood=8)  # not low: not counted
    journal.add("mood.logged", DAY1 + timedelta(days=3), mood=3)
    assert journal.detected == []
    journal.add("mood.logged", DAY1 + timedelta(days=6), mood=1)
    assert journal.detected == ["low_mood"]


def test_events_out_of_the_window_no_longer_count() -> None:
    journal = Journal()
    journal.add("mood.logged", DAY1, mood=2)
    journal.add("mood.logged", DAY1 + timedelta(days=3), mood=2)
    journal.add("mood.logged", DAY1 + timedelta(days=7), mood=2)  # DAY1 fell out
    assert journal.detected == []
    journal.add("mood.logged", DAY1 + timedelta(days=9), mood=2)  # days 3, 7, 9
    assert journal.detected == ["low_mood"]


def test_an_event_of_unless_since_after_the_first_counted_one_keeps_the_rule_quiet() -> None:
    journal = Journal()
    journal.add("mood.logged", DAY1, mood=2)
    journal.add("walk.taken", DAY1 + timedelta(hours=1))
    journal.add("mood.logged", DAY1 + timedelta(days=1), mood=2)
    journal.add("mood.logged", DAY1 + timedelta(days=2), mood=2)
    assert journal.detected == []


def test_an_event_of_unless_since_before_the_first_counted_one_does_not_count() -> None:
    journal = Journal()
    journal.add("walk.taken", DAY1 - timedelta(days=1))
    for day in range(3):
        journal.add("mood.logged", DAY1 + timedelta(days=day), mood=2)
    assert journal.detected == ["low_mood"]


def test_the_nudge_converts_on_its_event_types_only() -> None:
    journal = Journal()
    for day in range(3):
        journal.add("mood.logged", DAY1 + timedelta(days=day), mood=2)
    journal.add("mood.logged", DAY1 + timedelta(days=3), mood=9)
    assert journal.journey.nudges["low_mood"]["status"] == "active"
    journal.add("walk.taken", DAY1 + timedelta(days=4))
    assert journal.journey.nudges["low_mood"]["status"] == "converted"


def test_and_not_keeps_a_user_already_active_in_the_other_app_out() -> None:
    journal = Journal()
    journal.add("walk.taken", DAY1 - timedelta(days=30))
    journal.add("post.written", DAY1)
    journal.add("post.written", DAY1 + timedelta(days=1))
    assert journal.detected == []
    other = Journal()
    other.add("post.written", DAY1)
    other.add("post.written", DAY1 + timedelta(days=1))
    assert other.detected == ["writers_to_mood"]
    other.add("mood.logged", DAY1 + timedelta(days=2), mood=9)
    assert other.journey.nudges["writers_to_mood"]["status"] == "converted"


def test_per_day_counters_are_pruned_to_the_longest_window() -> None:
    journal = Journal()
    for day in range(60):
        journal.add("post.written", DAY1 + timedelta(days=day))
    assert CATALOGUE.window_days == 7
    assert len(journal.journey.daily["post.written"]) == 7
    assert journal.journey.activity_by_type["post.written"] == 60


def test_a_payload_without_the_field_or_of_another_kind_does_not_meet_a_condition() -> None:
    where = Where("mood", "<=", 3)
    assert not where.holds({})
    assert not where.holds({"mood": "2"})
    assert not where.holds({"mood": True})
    assert where.holds({"mood": 3})


def test_declared_payload_fields_refuse_missing_wrong_kind_and_out_of_range_values() -> None:
    entry = CATALOGUE.event_type("mood.logged", "app-mood")
    for payload in ({}, {"mood": "7"}, {"mood": 7.5}, {"mood": 11}, {"mood": -1}, {"mood": None}):
        with pytest.raises(PayloadInvalidError) as error:
            entry.check_payload(payload)
        assert error.value.field == "payload.mood"
    entry.check_payload({"mood": 0})
    entry.check_payload({"mood": 10})


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Count(()), "event_types"),
        (lambda: Count(("a",), at_least=0), "at_least"),
        (lambda: Count(("a",), within_days=0), "within_days"),
        (lambda: Where("x", "~", 1), "where.op"),
        (lambda: ActivityNudgeRule("n", "a", "b", when=()), "when"),
        (
            lambda: ActivityNudgeRule("n", "a", "b", when=(ActiveIn("a"),), unless_since=("x",)),
            "unless_since",
        ),
    ],
)
def test_a_rule_that_cannot_run_is_refused_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(RuleInvalidError) as error:
        build()  # type: ignore[operator]
    assert error.value.field == field


def test_the_catalogue_checks_the_apps_and_event_types_a_rule_names() -> None:
    rule = ActivityNudgeRule("n", "app-mood", "app-mood", when=(Count(("nope",)),))
    with pytest.raises(RuleInvalidError, match="nope"):
        CATALOGUE.check_rule(rule)
    CATALOGUE.check_rule(LOW_MOOD)


def test_a_journey_and_its_counters_survive_a_snapshot_as_plain_json() -> None:
    journal = Journal()
    for day in range(3):
        journal.add("mood.logged", DAY1 + timedelta(days=day), mood=2)
    snapshot = UserJourney.Snapshot.take(journal.journey)
    copy = snapshot.mutate(None)
    assert copy.daily == journal.journey.daily
    assert copy.last_at == journal.journey.last_at
    assert copy.daily["mood.logged[mood<=3]"]


def test_an_old_snapshot_without_counters_loads_with_empty_ones() -> None:
    state: dict[str, object] = {"user_id": "u1", "nudges": {}}
    UserJourney.upcast_v1_v2(state)
    assert state["daily"] == {}
    assert state["last_at"] == {}


def test_old_stored_events_load_as_events_without_counters_or_conversion_types() -> None:
    activity: dict[str, object] = {"event_type": "mood.logged"}
    UserJourney.ActivityRecorded.upcast_v1_v2(activity)
    assert activity["marks"] == []
    assert activity["keep_days"] == 0
    detected: dict[str, object] = {"variant": "a"}
    UserJourney.NudgeDetected.upcast_v2_v3(detected)
    assert detected["converts_on"] == []


def test_a_nudge_stored_without_conversion_types_converts_on_any_event_of_its_target() -> None:
    journal = Journal()
    journal.add("post.written", DAY1)
    journal.add("post.written", DAY1 + timedelta(hours=1))
    journal.journey.nudges["writers_to_mood"].pop("converts_on", None)
    journal.add("walk.taken", DAY1 + timedelta(hours=2))
    assert journal.journey.nudges["writers_to_mood"]["status"] == "converted"


def test_an_event_failing_its_declared_payload_is_refused_at_ingest_naming_the_field() -> None:
    from src.domain.events import new_event

    with pytest.raises(PayloadInvalidError) as error:
        new_event(
            CATALOGUE, event_type="mood.logged", app_source="app-mood", user_id="u1", payload={}
        )
    assert error.value.field == "payload.mood"
    ok = new_event(
        CATALOGUE,
        event_type="mood.logged",
        app_source="app-mood",
        user_id="u1",
        payload={"mood": 4},
    )
    assert ok.payload == {"mood": 4}


def test_a_payload_condition_without_a_window_counts_ever() -> None:
    ever = ActivityNudgeRule(
        nudge_type="ever_low",
        shown_in="app-mood",
        target_app="app-mood",
        when=(Count(("mood.logged",), at_least=2, where=(Where("mood", "<=", 1),)),),
    )
    journey = UserJourney(user_id="u1")
    for n, day in enumerate((0, 40)):
        journey.record(
            MoodLogged,
            event_hash=f"h{n}",
            event_type="mood.logged",
            app_source="app-mood",
            occurred_at=DAY1 + timedelta(days=day),
            marks=ever.marks("mood.logged", {"mood": 0}),
            keep_days=0,
        )
    assert ever.is_due(journey, DAY1 + timedelta(days=40))
    assert journey.daily == {}
