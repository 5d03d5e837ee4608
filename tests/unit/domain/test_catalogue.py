import pytest

from src.domain.apps import default_catalogue
from src.domain.catalogue import AppModule, Catalogue, EventType
from src.domain.errors import AppSourceUnknownError, CatalogueConflictError, EventTypeUnknownError
from src.domain.nudges import CrossAppNudgeRule
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
