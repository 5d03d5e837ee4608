"""The sampler that ranks competing nudges: Thompson sampling with an exploration floor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from src.domain.apps import default_catalogue
from src.domain.experiment_stats import probability_best
from src.domain.nudge_choice import (
    EXPLORATION_FLOOR,
    NOT_RANKED,
    NudgeChoiceInvalidError,
    TypeFigures,
    choice_seed,
    explored,
    nudge_rank,
)
from src.domain.user_journey import UserJourney

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USERS = 4000


def wins(first: TypeFigures, second: TypeFigures, min_share: float) -> float:
    """The share of users (each with both nudges, detected at T0) the first type wins."""
    won = 0
    for n in range(USERS):
        user = f"user-{n}"
        a = nudge_rank(first, choice_seed(user, "a", T0), min_share)
        b = nudge_rank(second, choice_seed(user, "b", T0), min_share)
        won += a > b
    return won / USERS


def test_the_same_user_type_and_moment_give_the_same_rank() -> None:
    figures = TypeFigures(exposed=40, converted=12)
    seed = choice_seed("u1", "letters_to_cv", T0)
    assert seed == choice_seed("u1", "letters_to_cv", T0)
    assert nudge_rank(figures, seed) == nudge_rank(figures, seed)


def test_another_user_type_or_moment_draws_again() -> None:
    seeds = {
        choice_seed("u1", "letters_to_cv", T0),
        choice_seed("u2", "letters_to_cv", T0),
        choice_seed("u1", "letters_to_rise", T0),
        choice_seed("u1", "letters_to_cv", T0 + timedelta(seconds=1)),
    }
    assert len(seeds) == 4
    assert len({nudge_rank(TypeFigures(), seed, 0.0) for seed in seeds}) == 4


def test_posterior_draws_follow_the_beta_of_the_figures() -> None:
    """Beta(1 + 30, 1 + 70): mean 31/102, and every draw a rate in [0, 1]."""
    figures = TypeFigures(exposed=100, converted=30)
    draws = [nudge_rank(figures, choice_seed(f"u{n}", "t", T0), 0.0) for n in range(USERS)]
    assert all(0.0 <= d <= 1.0 for d in draws)
    mean = sum(draws) / len(draws)
    assert mean == pytest.approx(31 / 102, abs=0.01)
    variance = sum((d - mean) ** 2 for d in draws) / len(draws)
    expected = (31 * 71) / (102**2 * 103)
    assert variance == pytest.approx(expected, rel=0.15)


def test_without_figures_two_types_split_the_slots_evenly() -> None:
    assert wins(TypeFigures(), TypeFigures(), 0.1) == pytest.approx(0.5, abs=0.03)


def test_the_type_that_converts_better_wins_most_slots() -> None:
    share = wins(TypeFigures(100, 40), TypeFigures(100, 10), 0.0)
    assert share > 0.99


def test_close_figures_share_the_slots_by_the_chance_each_is_best() -> None:
    """30/100 against 25/100: each type wins as often as it is the better converter."""
    share = wins(TypeFigures(100, 30), TypeFigures(100, 25), 0.0)
    chance, _ = probability_best([(30, 100), (25, 100)])
    assert share == pytest.approx(chance, abs=0.03)
    assert 0.7 < share < 0.85


def test_the_exploration_floor_keeps_a_poor_type_in_play() -> None:
    """Against a far better rival a hopeless type still wins about min_share of contests
    (at least min_share - min_share**2 / 2); without the floor, none."""
    good, poor = TypeFigures(1000, 900), TypeFigures(1000, 0)
    min_share = 0.1
    poor_share = 1 - wins(good, poor, min_share)
    floor = min_share - min_share**2 / 2
    assert floor - 0.015 <= poor_share <= min_share + 0.015
    assert wins(good, poor, 0.0) == 1.0


def test_exploration_draws_rank_above_every_posterior_draw() -> None:
    ranks = [nudge_rank(TypeFigures(), choice_seed(f"u{n}", "t", T0), 1.0) for n in range(200)]
    assert all(EXPLORATION_FLOOR < r <= 2 * EXPLORATION_FLOOR for r in ranks)
    assert all(explored(r) for r in ranks)
    assert not explored(nudge_rank(TypeFigures(), choice_seed("u", "t", T0), 0.0))


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_that_is_no_probability_is_refused(share: float) -> None:
    with pytest.raises(NudgeChoiceInvalidError, match="min_share"):
        nudge_rank(TypeFigures(), 1, share)


def test_the_rank_is_chosen_at_detection_and_recorded() -> None:
    journey = UserJourney(user_id="u1")
    journey.record(
        UserJourney.ActivityRecorded,
        event_hash="h1",
        event_type="letter.generated",
        app_source="phoenix-letters",
        occurred_at=T0,
    )

    def rank(nudge_type: str, user_id: str, at: datetime) -> float:
        return nudge_rank(TypeFigures(10, 3), choice_seed(user_id, nudge_type, at))

    journey.detect_nudges(default_catalogue().nudge_rules, T0, None, rank)
    [detected] = [e for e in journey.collect_events() if isinstance(e, UserJourney.NudgeDetected)]
    assert detected.rank == rank("letters_to_cv", "u1", T0)


def test_a_nudge_detected_without_a_choice_is_not_ranked() -> None:
    journey = UserJourney(user_id="u1")
    journey.record(
        UserJourney.ActivityRecorded,
        event_hash="h1",
        event_type="letter.generated",
        app_source="phoenix-letters",
        occurred_at=T0,
    )
    journey.detect_nudges(default_catalogue().nudge_rules, T0)
    [detected] = [e for e in journey.collect_events() if isinstance(e, UserJourney.NudgeDetected)]
    assert detected.rank == NOT_RANKED


def test_a_nudge_detected_event_stored_before_ranks_loads_unranked() -> None:
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
        "variant": "chances",
        "converts_on": [],
        "class_version": 3,
    }
    stored = StoredEvent(
        originator_id=journey.id,
        originator_version=2,
        topic=get_topic(UserJourney.NudgeDetected),
        state=transcoder.encode(state),
    )
    event = mapper.to_domain_event(stored)
    assert isinstance(event, UserJourney.NudgeDetected)
    assert (event.variant, event.rank) == ("chances", NOT_RANKED)
