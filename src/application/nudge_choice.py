"""The choice of nudge under the daily cap at work: ranking the nudges a batch detects,
and reporting which nudge types win the slots and how they convert.

The rank itself is drawn by ``src.domain.nudge_choice``; what it needs from the store is
each nudge type's exposures and attributed conversions, the outcomes every report reads
(``phoenix_nudge_outcomes`` on PostgreSQL, ``nudge_policy.outcome`` on SQLite).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from src.application.ports.clock import Clock
from src.application.ports.read_models import ReadModelStore
from src.domain.experiment_stats import probability_best, wilson_interval
from src.domain.experiments import VariantCounts
from src.domain.nudge_choice import (
    DEFAULT_MIN_SHARE,
    TypeFigures,
    choice_seed,
    nudge_rank,
)

DEFAULT_REFRESH = timedelta(seconds=60)

BatchRank = Callable[[str, str, datetime], float]
"""``rank(nudge_type, user_id, at)`` for a nudge detected at ``at``."""


def type_figures(counts: Mapping[str, Mapping[str, VariantCounts]]) -> dict[str, TypeFigures]:
    """Each nudge type's figures, all its message variants together."""
    return {
        nudge_type: TypeFigures(
            exposed=sum(c.exposed for c in by_variant.values()),
            converted=sum(c.converted for c in by_variant.values()),
        )
        for nudge_type, by_variant in counts.items()
    }


class NudgeRanker:
    """Ranks each nudge a batch detects (``UserJourney.detect_nudges``).

    The figures are read from the store at most once per batch, and only once the batch
    detects a nudge: never per user. A backlog detects thousands of nudges a second,
    while the figures move with displays and conversions, far slower; so a batch reuses
    the figures another batch read less than ``refresh`` ago.
    """

    def __init__(
        self,
        read_models: ReadModelStore,
        clock: Clock,
        min_share: float = DEFAULT_MIN_SHARE,
        refresh: timedelta = DEFAULT_REFRESH,
    ) -> None:
        self._read_models = read_models
        self._clock = clock
        self._min_share = min_share
        self._refresh = refresh
        self._lock = threading.Lock()
        self._figures: dict[str, TypeFigures] = {}
        self._read_at: datetime | None = None

    def for_batch(self, user_ids: Collection[str]) -> BatchRank:
        """``rank`` for the nudges of a batch of these users' events: one set of figures."""
        figures: dict[str, TypeFigures] | None = None

        def rank(nudge_type: str, user_id: str, at: datetime) -> float:
            nonlocal figures
            if figures is None:
                figures = self._current_figures()
            return nudge_rank(
                figures.get(nudge_type, TypeFigures()),
                choice_seed(user_id, nudge_type, at),
                self._min_share,
            )

        return rank

    def _current_figures(self) -> dict[str, TypeFigures]:
        with self._lock:
            now = self._clock.now()
            if self._read_at is None or now - self._read_at >= self._refresh:
                self._figures = type_figures(self._read_models.experiment_counts())
                self._read_at = now
            return self._figures


@dataclass(frozen=True)
class SlotReport:
    """How a nudge type fared in the contests for the users' slots.

    ``won``: its nudges exposed (displayed before the user reached the target), each a
    slot it won under the daily cap; ``share``: its part of all the slots won;
    ``converted``: attributed conversions; the rate is per slot won, with its 95 % Wilson
    interval;
    ``probability_best``: the chance it converts best of all the types, which is the
    share of contests Thompson sampling gives it (less the exploration floor's).
    """

    nudge_type: str
    detected: int
    won: int
    share: float | None
    converted: int
    conversion_rate: float | None
    ci_low: float
    ci_high: float
    probability_best: float


def slot_reports(
    nudge_types: Collection[str], counts: Mapping[str, Mapping[str, VariantCounts]]
) -> dict[str, SlotReport]:
    """Every nudge type's slots, by type: those of ``nudge_types`` (the rules) and any
    type the store still has nudges of."""
    types = sorted({*nudge_types, *counts})
    figures = [
        (
            sum(c.assigned for c in counts.get(t, {}).values()),
            sum(c.exposed for c in counts.get(t, {}).values()),
            sum(c.converted for c in counts.get(t, {}).values()),
        )
        for t in types
    ]
    best = probability_best([(converted, won) for _, won, converted in figures])
    all_won = sum(won for _, won, _ in figures)
    reports: dict[str, SlotReport] = {}
    for index, (nudge_type, (detected, won, converted)) in enumerate(
        zip(types, figures, strict=True)
    ):
        low, high = wilson_interval(converted, won)
        reports[nudge_type] = SlotReport(
            nudge_type=nudge_type,
            detected=detected,
            won=won,
            share=won / all_won if all_won else None,
            converted=converted,
            conversion_rate=converted / won if won else None,
            ci_low=round(low, 6),
            ci_high=round(high, 6),
            probability_best=round(best[index], 4),
        )
    return reports
