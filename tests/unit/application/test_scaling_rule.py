"""The scaling signal's rule, as SQLite's stores run it (the SQL function is its twin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from src.application.scaling import ScalingSignal, scaling_signal, useful_workers

NOW = datetime(2025, 12, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("claimable", "users", "batch_size", "expected"),
    [
        (0, 0, 100, 0),  # nothing to do: scale to zero
        (1, 1, 100, 1),  # one event is worth a worker
        (100, 50, 100, 1),  # one full batch
        (101, 50, 100, 2),  # a second batch, begun
        (1000, 3, 100, 3),  # ten batches, but three users: a fourth worker would wait
        (1000, 3, 1, 3),
        (7, 7, 3, 3),
    ],
)
def test_one_worker_per_batch_at_most_one_per_user(
    claimable: int, users: int, batch_size: int, expected: int
) -> None:
    assert useful_workers(claimable, users, batch_size) == expected


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        useful_workers(5, 5, 0)


def test_the_oldest_pending_age_is_never_negative_and_none_without_pending() -> None:
    assert scaling_signal(0, 0, 100, None, NOW) == ScalingSignal(0, 0, None)
    found = scaling_signal(5, 2, 100, NOW - timedelta(seconds=90), NOW)
    assert found == ScalingSignal(5, 1, 90.0)
    # A clock a little behind the store's: an event received "in the future" is 0 s old.
    assert (
        scaling_signal(1, 1, 100, NOW + timedelta(seconds=2), NOW).oldest_pending_age_seconds == 0.0
    )
