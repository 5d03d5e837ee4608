"""Experiments at work: choosing a variant at detection, and reporting how each converts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from src.application.nudge_choice import SlotReport
from src.application.ports.clock import Clock
from src.application.ports.nudges import NudgeBoard
from src.application.ports.read_models import ReadModelStore
from src.domain.experiment_stats import (
    probability_best,
    two_proportion_p_value,
    wilson_interval,
)
from src.domain.experiments import ExperimentBook, VariantCounts

DEFAULT_REFRESH = timedelta(seconds=5)


class VariantAssigner:
    """Chooses the variant of each nudge a batch detects (``UserJourney.detect_nudges``).

    A nudge the user was already shown as the degraded mode's offer keeps the variant of
    that offer: the user saw that wording. The offers are asked for once per batch, and
    only once the batch detects a nudge. Otherwise ``ab`` experiments need nothing but the
    user id; bandits need every variant's exposures and conversions, read from the read
    models at most once per ``refresh`` (a backlog detects thousands of nudges a second;
    the figures move far slower).
    """

    def __init__(
        self,
        book: ExperimentBook,
        read_models: ReadModelStore,
        clock: Clock,
        offers: NudgeBoard | None = None,
        refresh: timedelta = DEFAULT_REFRESH,
    ) -> None:
        self._book = book
        self._read_models = read_models
        self._clock = clock
        self._offers = offers
        self._refresh = refresh
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, VariantCounts]] = {}
        self._read_at: datetime | None = None

    def for_batch(self, user_ids: Collection[str]) -> Callable[[str, str], str]:
        """``choose`` for the nudges of a batch of these users' events."""
        offers = self._offers
        if offers is None:
            return self.choose
        shown: dict[tuple[str, str], str] | None = None

        def choose(nudge_type: str, user_id: str) -> str:
            nonlocal shown
            if shown is None:
                shown = offers.displayed_offers(user_ids)
            kept = shown.get((user_id, nudge_type))
            return kept if kept is not None else self.choose(nudge_type, user_id)

        return choose

    def choose(self, nudge_type: str, user_id: str) -> str:
        experiment = self._book.get(nudge_type)
        if experiment is None:
            return ""
        if experiment.mode == "ab":
            return experiment.sticky(user_id)
        return experiment.thompson(user_id, self._current_counts().get(nudge_type, {}))

    def _current_counts(self) -> dict[str, dict[str, VariantCounts]]:
        with self._lock:
            now = self._clock.now()
            if self._read_at is None or now - self._read_at >= self._refresh:
                self._counts = self._read_models.experiment_counts()
                self._read_at = now
            return self._counts


@dataclass(frozen=True)
class VariantReport:
    variant: str
    message: str
    assigned: int
    exposed: int
    converted: int
    conversion_rate: float | None
    ci_low: float
    ci_high: float
    probability_best: float
    p_value: float | None
    """Two-proportion test against the first variant; None for the first itself."""


@dataclass(frozen=True)
class ExperimentReport:
    nudge_type: str
    mode: str
    attribution_days: int
    variants: tuple[VariantReport, ...]
    slots: SlotReport | None = None
    """How the nudge type fares against the others for the users' slots (all variants)."""


def experiment_reports(
    book: ExperimentBook,
    counts: Mapping[str, Mapping[str, VariantCounts]],
    attribution_days: int,
    language: str = "fr",
    slots: Mapping[str, SlotReport] | None = None,
) -> list[ExperimentReport]:
    """Each experiment's variants with their figures; rate = converted / exposed. With
    ``slots``, each experiment carries its nudge type's."""
    reports: list[ExperimentReport] = []
    for experiment in book:
        seen = counts.get(experiment.nudge_type, {})
        figures = [seen.get(v.variant, VariantCounts()) for v in experiment.variants]
        best = probability_best([(f.converted, f.exposed) for f in figures])
        first = figures[0]
        variants = []
        for index, (variant, f) in enumerate(zip(experiment.variants, figures, strict=True)):
            low, high = wilson_interval(f.converted, f.exposed)
            variants.append(
                VariantReport(
                    variant=variant.variant,
                    message=variant.message(language),
                    assigned=f.assigned,
                    exposed=f.exposed,
                    converted=f.converted,
                    conversion_rate=f.converted / f.exposed if f.exposed else None,
                    ci_low=round(low, 6),
                    ci_high=round(high, 6),
                    probability_best=round(best[index], 4),
                    p_value=None
                    if index == 0
                    else _rounded(
                        two_proportion_p_value(
                            first.converted, first.exposed, f.converted, f.exposed
                        )
                    ),
                )
            )
        reports.append(
            ExperimentReport(
                nudge_type=experiment.nudge_type,
                mode=experiment.mode,
                attribution_days=attribution_days,
                variants=tuple(variants),
                slots=(slots or {}).get(experiment.nudge_type),
            )
        )
    return reports


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
