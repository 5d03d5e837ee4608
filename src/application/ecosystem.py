"""The ecosystem figures' computations that every store shares, kept out of its port."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations


def app_combinations(users_by_app_set: Mapping[frozenset[str], int]) -> dict[str, int]:
    """Every combination of two or more of the apps seen, with the users active in all of
    them, from the number of users per exact set of apps."""
    apps = sorted({app for app_set in users_by_app_set for app in app_set})
    combos: dict[str, int] = {}
    for size in range(2, len(apps) + 1):
        for combo in combinations(apps, size):
            wanted = frozenset(combo)
            combos["+".join(combo)] = sum(
                n for app_set, n in users_by_app_set.items() if wanted <= app_set
            )
    return combos
