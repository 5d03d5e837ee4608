"""The statistics a product owner reads an experiment with, in the standard library only.

Small samples are the rule here (tens of exposures per variant), so the interval is
Wilson's, which stays inside [0, 1] and behaves at 0 % and 100 %, unlike the normal one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

Z_95 = 1.959963984540054
BEST_DRAWS = 20_000
BEST_SEED = 20_261_201
"""Fixed: the same figures always give the same probabilities (reports are compared)."""


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion; (0, 1) when nothing was tried."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def probability_best(
    arms: Sequence[tuple[int, int]], draws: int = BEST_DRAWS, seed: int = BEST_SEED
) -> list[float]:
    """For each (conversions, exposures), the probability its rate is the highest.

    Monte Carlo over the Beta(1 + conversions, 1 + failures) posteriors, seeded, so a
    report is reproducible; ties go to no one in particular (the first drawn highest).
    """
    if not arms:
        return []
    wins = [0] * len(arms)
    sampler = random.Random(seed)  # noqa: S311 - a sampler, not a secret
    shapes = [(1 + c, 1 + max(n - c, 0)) for c, n in arms]
    for _ in range(draws):
        values = [sampler.betavariate(a, b) for a, b in shapes]
        wins[values.index(max(values))] += 1
    return [win / draws for win in wins]


def two_proportion_p_value(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> float | None:
    """Two-sided p-value of the pooled z-test that both rates are equal.

    ``None`` when a side has no trials (nothing to compare); 1.0 when both rates are 0
    or both 100 % (no evidence of a difference).
    """
    if trials_a <= 0 or trials_b <= 0:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return 1.0
    z = (successes_a / trials_a - successes_b / trials_b) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))
