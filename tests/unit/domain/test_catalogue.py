from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from src.domain.apps import default_catalogue
from src.domain.catalogue import AppModule, Catalogue, EventType
from src.domain.errors import AppSourceUnknownError, CatalogueConflictError, EventTypeUnknownError
from src.domain.nudges import CrossAppNudgeRule
from src.domain.rules import ActivityNudgeRule, Count, Where
from src.domain.user_journey import UserJourney


class CoachingBooked(UserJourney.ActivityRecorded):
    """A module of its own: a new app joins without an edit to the core."""


COACH = AppModule(
    app_source="phoenix-coach",
    title="Phoenix Coach",
    event_types=(EventType("coach.booked", CoachingBooked),),
    nudge_rules=(
        CrossAppNudgeRule("coach_to_cv", "phoenix-coach", "phoenix-cv", {"fr": "Et votre CV ?"}),
    ),
)


def test_the_default_catalogue_holds_the_v1_apps_and_types() -> None:
    catalogue = default_catalogue()
    assert {"phoenix-cv", "phoenix-letters"} <= set(catalogue.app_sources)
    assert {
        "cv.generated",
        "cv.uploaded",
        "job_offer.analyzed",
        "letter.generated",
    } <= set(catalogue.event_type_names)
    assert {"cv_to_letters", "letters_to_cv"} <= set(catalogue.rules_by_type)


def test_an_unknown_event_type_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(EventTypeUnknownError) as caught:
        default_catalogue().event_type("letter.sent", "phoenix-letters")
    assert caught.value.field == "event_type"
    assert "letter.generated" in str(caught.value)


def test_an_unknown_app_is_refused() -> None:
    with pytest.raises(AppSourceUnknownError, match="phoenix-letters"):
        default_catalogue().event_type("letter.generated", "phoenix-mail")


def test_an_event_type_from_the_wrong_app_is_refused() -> None:
    with pytest.raises(AppSourceUnknownError, match="published by 'phoenix-cv'"):
        default_catalogue().event_type("cv.uploaded", "phoenix-letters")


def test_a_new_app_registers_its_types_and_rules() -> None:
    catalogue = default_catalogue()
    catalogue.register(COACH)
    assert catalogue.event_type("coach.booked", "phoenix-coach").journey_event is CoachingBooked
    assert "coach_to_cv" in catalogue.rules_by_type


def test_two_apps_cannot_claim_the_same_event_type() -> None:
    thief = AppModule("phoenix-thief", "Thief", (EventType("cv.uploaded", CoachingBooked),))
    with pytest.raises(CatalogueConflictError, match="belongs to 'phoenix-cv'"):
        Catalogue([*default_catalogue()._apps.values(), thief])


def test_every_registered_rule_names_known_apps_and_event_types() -> None:
    catalogue = default_catalogue()
    checked = []
    for rule in catalogue.nudge_rules:
        catalogue.check_rule(rule)  # raises RuleInvalidError naming the unknown one
        checked.append(rule.nudge_type)
    assert {"letters_to_cv", "cv_to_letters"} <= set(checked)


class MoodLogged(UserJourney.ActivityRecorded):
    """An event a payload condition may mark."""


@dataclass(frozen=True)
class EveryEventRule(CrossAppNudgeRule):
    """A rule of another class: it marks whatever it likes."""

    def marks(self, event_type: str, payload: Mapping[str, object]) -> tuple[str, ...]:
        return (f"seen:{event_type}",)


def test_marks_come_from_every_rule_that_may_mark_also_after_a_later_registration() -> None:
    low = Count(("mood.logged",), within_days=7, where=(Where("mood", "<=", 3),))
    mood = AppModule(
        app_source="app-mood",
        title="Mood",
        event_types=(EventType("mood.logged", MoodLogged),),
        nudge_rules=(ActivityNudgeRule("low_mood", "app-mood", "app-mood", when=(low,)),),
    )
    catalogue = Catalogue([COACH, mood])
    assert catalogue.marks_for("mood.logged", {"mood": 2}) == ["mood.logged[mood<=3]"]
    assert catalogue.marks_for("mood.logged", {"mood": 8}) == []
    assert catalogue.marks_for("coach.booked", {"mood": 2}) == []
    catalogue.register(
        AppModule(
            app_source="app-other",
            title="Other",
            event_types=(),
            nudge_rules=(EveryEventRule("other", "app-other", "app-mood"),),
        )
    )
    assert catalogue.marks_for("mood.logged", {"mood": 2}) == [
        "mood.logged[mood<=3]",
        "seen:mood.logged",
    ]
    assert catalogue.marks_for("coach.booked", {}) == ["seen:coach.booked"]
