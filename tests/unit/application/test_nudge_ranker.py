"""Ranking the nudges a batch detects from the store's figures, and the slots report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from src.application.nudge_choice import NudgeRanker, slot_reports, type_figures
from src.application.ports.nudges import NudgeRecord
from src.domain.experiment_stats import probability_best
from src.domain.experiments import VariantCounts
from src.domain.nudge_choice import TypeFigures, choice_seed, nudge_rank
from tests.fakes import FakeClock, FakeReadModelStore

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


class CountingReadModels(FakeReadModelStore):
    """The fake read models, keeping how often the figures were read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def experiment_counts(self) -> dict[str, dict[str, VariantCounts]]:
        self.reads += 1
        return super().experiment_counts()


def nudge(n: int, nudge_type: str, variant: str, *, converted: bool) -> NudgeRecord:
    return NudgeRecord(
        nudge_id=f"{nudge_type}-{n}",
        user_id=f"user-{n}",
        nudge_type=nudge_type,
        shown_in="phoenix-letters",
        target_app="phoenix-cv",
        status="converted" if converted else "active",
        detected_at=T0,
        converted_at=T0 + timedelta(hours=2) if converted else None,
        variant=variant,
    )


def store_with_history() -> CountingReadModels:
    """letters_to_cv: 6 exposed over two variants, 3 converted; letters_to_rise: 4 exposed,
    none converted, and 2 never shown."""
    store = CountingReadModels()
    history = [
        *((nudge(n, "letters_to_cv", "ab"[n % 2], converted=n < 3), True) for n in range(6)),
        *((nudge(n, "letters_to_rise", "pace", converted=False), n < 4) for n in range(6)),
    ]
    for record, shown in history:
        store.nudges[record.nudge_id] = record
        if shown:
            store.shown.append((record.nudge_id, "phoenix-letters", T0 + timedelta(hours=1)))
    return store


def test_figures_add_up_every_variant_of_a_type() -> None:
    figures = type_figures(store_with_history().experiment_counts())
    assert figures == {
        "letters_to_cv": TypeFigures(exposed=6, converted=3),
        "letters_to_rise": TypeFigures(exposed=4, converted=0),
    }


def test_each_nudge_is_ranked_from_its_types_figures_in_the_store() -> None:
    ranker = NudgeRanker(store_with_history(), FakeClock(T0), min_share=0.1)
    rank = ranker.for_batch(["u1"])
    at = T0 + timedelta(days=1)
    assert rank("letters_to_cv", "u1", at) == nudge_rank(
        TypeFigures(6, 3), choice_seed("u1", "letters_to_cv", at), 0.1
    )
    assert rank("letters_to_rise", "u1", at) == nudge_rank(
        TypeFigures(4, 0), choice_seed("u1", "letters_to_rise", at), 0.1
    )
    # A type the store has no nudge of yet starts from no figures at all.
    assert rank("stress_relief", "u1", at) == nudge_rank(
        TypeFigures(), choice_seed("u1", "stress_relief", at), 0.1
    )


def test_the_figures_are_read_once_per_batch_and_only_when_a_nudge_is_ranked() -> None:
    store = store_with_history()
    clock = FakeClock(T0)
    ranker = NudgeRanker(store, clock, refresh=timedelta(0))
    ranker.for_batch(["u1", "u2"])  # a batch that detects nothing
    assert store.reads == 0
    rank = ranker.for_batch([f"u{n}" for n in range(50)])
    for n in range(50):
        rank("letters_to_cv", f"u{n}", T0)
        rank("letters_to_rise", f"u{n}", T0)
    assert store.reads == 1
    ranker.for_batch(["u1"])("letters_to_cv", "u1", T0)
    assert store.reads == 2


def test_batches_within_the_refresh_share_the_figures_read() -> None:
    store = store_with_history()
    clock = FakeClock(T0)
    ranker = NudgeRanker(store, clock, refresh=timedelta(seconds=5))
    ranker.for_batch(["u1"])("letters_to_cv", "u1", T0)
    clock.advance(seconds=4)
    ranker.for_batch(["u2"])("letters_to_cv", "u2", T0)
    assert store.reads == 1
    clock.advance(seconds=1)
    ranker.for_batch(["u3"])("letters_to_cv", "u3", T0)
    assert store.reads == 2


def test_the_slots_report_shows_which_type_won_and_how_it_converts() -> None:
    counts = store_with_history().experiment_counts()
    reports = slot_reports(["letters_to_cv", "letters_to_rise", "stress_relief"], counts)
    assert list(reports) == ["letters_to_cv", "letters_to_rise", "stress_relief"]
    cv, rise, stress = reports.values()
    assert (cv.detected, cv.won, cv.converted) == (6, 6, 3)
    assert (rise.detected, rise.won, rise.converted) == (6, 4, 0)
    assert (stress.detected, stress.won, stress.converted) == (0, 0, 0)
    assert (cv.share, rise.share, stress.share) == (0.6, 0.4, 0.0)
    assert (cv.conversion_rate, rise.conversion_rate, stress.conversion_rate) == (0.5, 0.0, None)
    assert cv.ci_low < 0.5 < cv.ci_high
    best = probability_best([(3, 6), (0, 4), (0, 0)])
    assert [r.probability_best for r in reports.values()] == [round(b, 4) for b in best]
    assert cv.probability_best > rise.probability_best


def test_no_slot_won_yet_has_no_share() -> None:
    [report] = slot_reports(["letters_to_cv"], {}).values()
    assert (report.won, report.share, report.conversion_rate) == (0, None, None)
    assert report.probability_best == pytest.approx(1.0)
