"""Which nudge wins a user's slot under the daily cap: Thompson sampling on nudge types.

When several nudges compete for the few slots a user has in an app each day, the one
shown should be the one most likely to convert, yet a type that started badly must keep
a chance to prove itself. So each nudge gets, once, at detection, a ``rank``: a draw from
its type's posterior conversion rate, Beta(1 + conversions, 1 + exposures - conversions).
Every store shows the highest ranks first. Comparing independent posterior draws and
keeping the highest is Thompson sampling: a type wins in proportion to the chance that
it is the best converter, as far as the figures so far can tell.

Exploration floor: with probability ``min_share`` the nudge's rank is an exploration
draw instead, in (1, 2], above every posterior draw (in [0, 1]). Against one rival, a type
then wins at least ``min_share - min_share**2 / 2`` of the contests, however poor its
figures (it explores and its rival does not, or both explore and it draws higher).

The draws are seeded by the user, the nudge type and the moment of detection: folding
the same events again gives the same rank with the same figures, on any worker. The seed
includes the type so that two nudges detected by the same event draw independently.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime

from src.domain.errors import FlywheelError

DEFAULT_MIN_SHARE = 0.1
NOT_RANKED = 0.0
"""The rank of a nudge detected without a choice (before this existed, or by a fold
without figures): it comes after every ranked nudge, and such nudges keep the order of
their detection."""
EXPLORATION_FLOOR = 1.0
"""Ranks above this one were exploration draws."""


class NudgeChoiceInvalidError(FlywheelError):
    """A share of exploration that cannot be a probability."""


@dataclass(frozen=True)
class TypeFigures:
    """What a nudge type achieved so far: nudges exposed (first displays), and of those,
    conversions attributed to the nudge."""

    exposed: int = 0
    converted: int = 0


def choice_seed(user_id: str, nudge_type: str, at: datetime) -> int:
    """A seed fixed by (user, nudge type, moment), stable across processes (unlike ``hash``)."""
    text = f"nudge-rank:{user_id}:{nudge_type}:{at.isoformat()}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def nudge_rank(figures: TypeFigures, seed: int, min_share: float = DEFAULT_MIN_SHARE) -> float:
    """The rank of a nudge of a type with ``figures``: higher is shown first."""
    if not 0 <= min_share <= 1:
        raise NudgeChoiceInvalidError(f"min_share must be between 0 and 1, not {min_share}")
    draws = random.Random(seed)  # noqa: S311 - a sampler, not a secret
    if draws.random() < min_share:
        return EXPLORATION_FLOOR + (1.0 - draws.random())
    failures = max(figures.exposed - figures.converted, 0)
    return draws.betavariate(1 + max(figures.converted, 0), 1 + failures)


def explored(rank: float) -> bool:
    """Whether ``rank`` was an exploration draw."""
    return rank > EXPLORATION_FLOOR
