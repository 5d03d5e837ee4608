from collections import Counter
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from src.adapters.toml_experiments import (
    ExperimentFileError,
    parse_experiments,
    shipped_experiments_text,
)
from src.domain.apps import default_catalogue
from src.domain.experiment_stats import (
    probability_best,
    two_proportion_p_value,
    wilson_interval,
)
from src.domain.experiments import (
    Experiment,
    ExperimentInvalidError,
    Variant,
    VariantCounts,
)
from src.domain.user_journey import UserJourney

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
A = Variant("a", {"fr": "A"})
B = Variant("b", {"fr": "B", "en": "B!"})


def test_ab_assignment_is_sticky_and_split_by_weight() -> None:
    experiment = Experiment("letters_to_cv", "ab", (A, Variant("b", {"fr": "B"}, weight=3)))
    first = [experiment.sticky(f"user-{i}") for i in range(2000)]
    assert first == [experiment.sticky(f"user-{i}") for i in range(2000)]
    share_b = Counter(first)["b"] / len(first)
    assert 0.7 < share_b < 0.8


def test_ab_assignment_differs_between_experiments() -> None:
    one = Experiment("letters_to_cv", "ab", (A, B))
    other = Experiment("cv_to_letters", "ab", (A, B))
    users = [f"user-{i}" for i in range(200)]
    assert [one.sticky(u) for u in users] != [other.sticky(u) for u in users]


def test_thompson_sends_most_users_to_the_variant_that_converts() -> None:
    experiment = Experiment("letters_to_cv", "bandit", (A, B), min_share=0.1)
    counts = {"a": VariantCounts(exposed=200, converted=10), "b": VariantCounts(200, 200, 80)}
    chosen = Counter(experiment.choose(f"user-{i}", counts) for i in range(1000))
    assert chosen["b"] > 850
    assert chosen["a"] >= 50  # the minimum share keeps exploring


def test_without_figures_a_bandit_splits_evenly() -> None:
    experiment = Experiment("letters_to_cv", "bandit", (A, B))
    chosen = Counter(experiment.choose(f"user-{i}", {}) for i in range(1000))
    assert 400 < chosen["a"] < 600


def test_a_variant_message_falls_back_to_french() -> None:
    assert B.message("en") == "B!"
    assert A.message("en") == "A"


@pytest.mark.parametrize(
    ("variants", "problem"),
    [
        ((A,), "at least two"),
        ((A, Variant("a", {"fr": "x"})), "distinct"),
        ((A, Variant("b", {"en": "x"})), "French"),
        ((A, Variant("b", {"fr": "x"}, weight=0)), "weight"),
    ],
)
def test_an_experiment_that_cannot_run_is_refused(
    variants: tuple[Variant, ...], problem: str
) -> None:
    with pytest.raises(ExperimentInvalidError, match=problem):
        Experiment("letters_to_cv", "ab", variants)


def test_wilson_interval_matches_the_textbook_and_stays_in_bounds() -> None:
    low, high = wilson_interval(20, 40)
    assert (round(low, 3), round(high, 3)) == (0.352, 0.648)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_the_probability_of_being_best_is_reproducible_and_favours_the_better_arm() -> None:
    best = probability_best([(5, 100), (20, 100)])
    assert best == probability_best([(5, 100), (20, 100)])
    assert best[1] > 0.99
    assert sum(best) == pytest.approx(1.0)


def test_two_proportion_p_value() -> None:
    assert two_proportion_p_value(10, 100, 25, 100) == pytest.approx(0.0047, abs=1e-3)
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0
    assert two_proportion_p_value(1, 0, 1, 10) is None


def test_an_old_nudge_detected_event_without_a_variant_still_loads() -> None:
    """Events stored before experiments have no ``variant``: upcast to none chosen."""
    transcoder: Transcoder = JSONTranscoder()
    mapper: Mapper = Mapper(transcoder=transcoder)
    journey = UserJourney(user_id="u1")
    state = {
        "originator_id": str(journey.id),
        "originator_version": 2,
        "timestamp": T0.isoformat(),
        "user_id": "u1",
        "nudge_id": "n1",
        "nudge_type": "letters_to_cv",
        "shown_in": "phoenix-letters",
        "target_app": "phoenix-cv",
        "detected_at": T0.isoformat(),
    }
    stored = StoredEvent(
        originator_id=journey.id,
        originator_version=2,
        topic=get_topic(UserJourney.NudgeDetected),
        state=transcoder.encode(state),
    )
    event = mapper.to_domain_event(stored)
    assert isinstance(event, UserJourney.NudgeDetected)
    assert event.variant == ""
    event.mutate(journey)
    assert journey.nudges["letters_to_cv"]["status"] == "active"


def test_the_variant_is_chosen_at_detection_and_recorded() -> None:
    journey = UserJourney(user_id="u1")
    journey.record(
        UserJourney.ActivityRecorded,
        event_hash="h1",
        event_type="letter.generated",
        app_source="phoenix-letters",
        occurred_at=T0,
    )
    asked: list[tuple[str, str]] = []

    def choose(nudge_type: str, user_id: str) -> str:
        asked.append((nudge_type, user_id))
        return "b"

    journey.detect_nudges(default_catalogue().nudge_rules, T0, choose)
    detected = [e for e in journey.collect_events() if isinstance(e, UserJourney.NudgeDetected)]
    assert [(e.nudge_type, e.variant) for e in detected] == [("letters_to_cv", "b")]
    assert asked == [("letters_to_cv", "u1")]


FILE = """\
[letters_to_cv]
mode = "bandit"
min_share = 0.2

[[letters_to_cv.variants]]
id = "a"
messages = { fr = "A" }

[[letters_to_cv.variants]]
id = "b"
weight = 2
messages = { fr = "B", en = "B!" }
"""


def test_the_experiments_file_is_read() -> None:
    book = parse_experiments(FILE, default_catalogue(), "f.toml")
    experiment = book.get("letters_to_cv")
    assert experiment is not None
    assert (experiment.mode, experiment.min_share) == ("bandit", 0.2)
    assert [(v.variant, v.weight) for v in experiment.variants] == [("a", 1.0), ("b", 2.0)]
    assert book.get("cv_to_letters") is None  # left out: its rule's own message


@pytest.mark.parametrize(
    ("change", "line", "problem"),
    [
        (("[letters_to_cv]", "[letters_to_rh]"), 1, "unknown nudge type 'letters_to_rh'"),
        (('mode = "bandit"', 'mode = "abc"'), 2, "mode must be one of ab, bandit"),
        (("weight = 2", "weight = -1"), 11, "weight must be a number above 0"),
        (('{ fr = "B", en = "B!" }', '{ en = "B!" }'), 12, "no French message"),
        (('id = "b"', 'id = "a"'), 3, "distinct"),
        (("min_share = 0.2", "min_share = 0.9"), 3, "min_share"),
        (('id = "a"\n', 'id = "a"\ncolour = "red"\n'), 7, "unknown key 'colour'"),
        (("[[letters_to_cv.variants]]", "[letters_to_cv.variants"), 5, "f.toml"),
    ],
)
def test_a_mistake_in_the_experiments_file_names_its_line(
    change: tuple[str, str], line: int, problem: str
) -> None:
    with pytest.raises(ExperimentFileError) as caught:
        parse_experiments(FILE.replace(*change, 1), default_catalogue(), "f.toml")
    assert problem in str(caught.value)
    assert f"line {line}" in str(caught.value)


def test_the_shipped_experiments_file_is_a_copy_of_the_modules_own() -> None:
    """The app modules declare their experiments; the file product owners copy and edit
    says the same, so that pointing NUDGE_EXPERIMENTS_FILE at an unedited copy changes
    nothing."""
    catalogue = default_catalogue()
    shipped = parse_experiments(shipped_experiments_text(), catalogue, "the shipped file")
    assert shipped == catalogue.experiments
    assert list(shipped.experiments) == list(catalogue.experiments.experiments)
    # Every nudge type runs one, its first wording its rule's default one.
    for rule in catalogue.nudge_rules:
        experiment = catalogue.experiments.get(rule.nudge_type)
        assert experiment is not None, rule.nudge_type
        assert experiment.variants[0].messages == rule.messages, rule.nudge_type
