import json
from datetime import UTC, datetime

from src.domain.apps import default_catalogue
from src.domain.user_journey import UserJourney, journey_id, nudge_id

CATALOGUE = default_catalogue()
AT = datetime(2026, 1, 1, tzinfo=UTC)


def record(journey: UserJourney, event_type: str, app: str, event_hash: str) -> None:
    entry = CATALOGUE.event_type(event_type, app)
    journey.record(
        entry.journey_event,
        event_hash=event_hash,
        event_type=event_type,
        app_source=app,
        occurred_at=AT,
    )


def test_a_journey_id_is_derived_from_the_user_id() -> None:
    assert UserJourney(user_id="u1").id == journey_id("u1")
    assert journey_id("u1") != journey_id("u2")


def test_recording_counts_activity_by_app_and_type() -> None:
    journey = UserJourney(user_id="u1")
    record(journey, "letter.generated", "phoenix-letters", "h1")
    record(journey, "job_offer.analyzed", "phoenix-letters", "h2")
    assert journey.activity_by_app == {"phoenix-letters": 2}
    assert journey.activity_by_type == {"letter.generated": 1, "job_offer.analyzed": 1}


def snapshot_size(journey: UserJourney) -> int:
    return len(json.dumps(UserJourney.Snapshot.take(journey).state, default=str))


def test_the_journey_keeps_nothing_per_event_it_records() -> None:
    """Which events were applied is the store's to remember (the application skips
    them): the journey's state is the same size after 10 events as after 1,000."""
    few, many = UserJourney(user_id="u1"), UserJourney(user_id="u1")
    for n in range(10):
        record(few, "cv.uploaded", "phoenix-cv", f"h{n}")
    for n in range(1_000):
        record(many, "cv.uploaded", "phoenix-cv", f"h{n}")
    assert many.activity_by_app == {"phoenix-cv": 1_000}
    assert abs(snapshot_size(many) - snapshot_size(few)) <= 10  # a few more digits


def test_letters_without_cv_detects_letters_to_cv_once() -> None:
    journey = UserJourney(user_id="u1")
    record(journey, "letter.generated", "phoenix-letters", "h1")
    assert journey.detect_nudges(CATALOGUE.nudge_rules, AT) == ["letters_to_cv"]
    record(journey, "letter.generated", "phoenix-letters", "h2")
    assert journey.detect_nudges(CATALOGUE.nudge_rules, AT) == []
    assert journey.nudges["letters_to_cv"]["status"] == "active"
    assert journey.nudges["letters_to_cv"]["nudge_id"] == nudge_id("u1", "letters_to_cv")


def test_a_cv_upload_converts_the_letters_to_cv_nudge() -> None:
    journey = UserJourney(user_id="u1")
    record(journey, "letter.generated", "phoenix-letters", "h1")
    journey.detect_nudges(CATALOGUE.nudge_rules, AT)
    record(journey, "cv.uploaded", "phoenix-cv", "h2")
    assert journey.nudges["letters_to_cv"]["status"] == "converted"
    assert journey.detect_nudges(CATALOGUE.nudge_rules, AT) == []
    converted = [e for e in journey.collect_events() if isinstance(e, UserJourney.NudgeConverted)]
    assert [e.by_event_hash for e in converted] == ["h2"]


def test_a_user_active_in_both_apps_gets_no_nudge() -> None:
    journey = UserJourney(user_id="u1")
    record(journey, "cv.uploaded", "phoenix-cv", "h1")
    record(journey, "letter.generated", "phoenix-letters", "h2")
    assert journey.detect_nudges(CATALOGUE.nudge_rules, AT) == []


def test_cv_without_letters_detects_cv_to_letters() -> None:
    journey = UserJourney(user_id="u1")
    record(journey, "cv.generated", "phoenix-cv", "h1")
    assert journey.detect_nudges(CATALOGUE.nudge_rules, AT) == ["cv_to_letters"]


def test_the_journey_rebuilds_from_its_events() -> None:
    journey = UserJourney(user_id="u1")
    record(journey, "letter.generated", "phoenix-letters", "h1")
    journey.detect_nudges(CATALOGUE.nudge_rules, AT)
    copy: UserJourney | None = None
    for domain_event in journey.collect_events():
        copy = domain_event.mutate(copy)  # type: ignore[assignment,arg-type]
    assert copy is not None
    assert copy.activity_by_app == journey.activity_by_app
    assert copy.nudges == journey.nudges
    assert copy.activity_by_type == journey.activity_by_type
