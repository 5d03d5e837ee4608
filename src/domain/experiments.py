"""Experiments on nudge messages: which wording a user sees, and how it is chosen.

Each nudge type has an experiment with two or more variants. The variant is chosen once,
when the nudge is detected, and recorded in ``NudgeDetected``: a replay reads it back
instead of choosing again, so a user never sees the message change under them.

Two modes:

* ``ab``: a sticky split by weight, from a hash of (experiment, user): the same user
  always lands in the same variant, on any worker, with no state to share;
* ``bandit``: Thompson sampling over each variant's exposures and conversions, so traffic
  moves to the wording that converts; a minimum share per variant keeps every wording
  explored, or a poor start could starve a good message for ever.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from src.domain.errors import FlywheelError
from src.domain.nudges import message_in

MODES = ("ab", "bandit")
DEFAULT_MIN_SHARE = 0.1
NO_VARIANT = ""
"""What a nudge detected before experiments existed carries (its stored event has none)."""


class ExperimentInvalidError(FlywheelError):
    """An experiment definition that cannot run; ``where`` says what to fix."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class Variant:
    """One wording of a nudge: an id, a message per language, a weight (``ab`` split)."""

    variant: str
    messages: Mapping[str, str]
    weight: float = 1.0

    def message(self, language: str) -> str:
        """The message in ``language``, else French (always present)."""
        return message_in(self.messages, language) or self.variant


@dataclass(frozen=True)
class VariantCounts:
    """What a variant has achieved so far; bandits learn from it, reports show it."""

    assigned: int = 0
    exposed: int = 0
    converted: int = 0


@dataclass(frozen=True)
class Experiment:
    nudge_type: str
    mode: Literal["ab", "bandit"]
    variants: tuple[Variant, ...]
    min_share: float = DEFAULT_MIN_SHARE

    def __post_init__(self) -> None:
        where = self.nudge_type
        if self.mode not in MODES:
            raise ExperimentInvalidError(where, f"mode must be one of {', '.join(MODES)}")
        if len(self.variants) < 2:
            raise ExperimentInvalidError(where, "an experiment needs at least two variants")
        ids = [v.variant for v in self.variants]
        if len(set(ids)) != len(ids):
            raise ExperimentInvalidError(where, "variant ids must be distinct")
        for variant in self.variants:
            if not variant.variant:
                raise ExperimentInvalidError(where, "a variant needs a non-empty id")
            if not variant.messages.get("fr"):
                raise ExperimentInvalidError(
                    f"{where}.{variant.variant}", "a French message (fr) is required"
                )
            if not variant.weight > 0:
                raise ExperimentInvalidError(
                    f"{where}.{variant.variant}", "weight must be a number above 0"
                )
        if not 0 <= self.min_share * len(self.variants) <= 1:
            raise ExperimentInvalidError(
                where, "min_share times the number of variants must be between 0 and 1"
            )

    def get(self, variant: str) -> Variant | None:
        return next((v for v in self.variants if v.variant == variant), None)

    def choose(self, user_id: str, counts: Mapping[str, VariantCounts]) -> str:
        """The variant for a newly detected nudge; ``counts`` matter to bandits only."""
        if self.mode == "ab":
            return self.sticky(user_id)
        return self.thompson(user_id, counts)

    def sticky(self, user_id: str) -> str:
        """A split by weight from a hash of (experiment, user): same user, same variant."""
        point = _unit(f"ab:{self.nudge_type}:{user_id}") * sum(v.weight for v in self.variants)
        for variant in self.variants:
            point -= variant.weight
            if point < 0:
                return variant.variant
        return self.variants[-1].variant

    def thompson(self, user_id: str, counts: Mapping[str, VariantCounts]) -> str:
        """Thompson sampling on Beta(1 + conversions, 1 + exposures - conversions).

        With probability ``min_share`` x variants the choice is uniform instead, so each
        variant keeps at least ``min_share`` of the traffic. The draws are seeded by the
        user: a retried fold with the same figures picks the same variant.
        """
        draws = random.Random(_unit(f"bandit:{self.nudge_type}:{user_id}"))  # noqa: S311 - a sampler, not a secret
        if draws.random() < self.min_share * len(self.variants):
            return draws.choice(self.variants).variant
        best, best_draw = self.variants[0].variant, -1.0
        for variant in self.variants:
            seen = counts.get(variant.variant, VariantCounts())
            failures = max(seen.exposed - seen.converted, 0)
            draw = draws.betavariate(1 + seen.converted, 1 + failures)
            if draw > best_draw:
                best, best_draw = variant.variant, draw
        return best


@dataclass(frozen=True)
class ExperimentBook:
    """Every experiment, by nudge type."""

    experiments: Mapping[str, Experiment] = field(default_factory=dict)

    def get(self, nudge_type: str) -> Experiment | None:
        return self.experiments.get(nudge_type)

    def __iter__(self) -> Iterator[Experiment]:
        return iter(self.experiments.values())


def _unit(text: str) -> float:
    """A number in [0, 1) fixed by ``text``: stable across processes, unlike ``hash``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
