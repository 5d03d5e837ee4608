"""The dashboard's throughput: counts from the store, durations from this process."""

from __future__ import annotations

from datetime import UTC, datetime

from src.application.monitoring import MinuteThroughput, with_durations

NINE = datetime(2025, 12, 25, 9, 0, tzinfo=UTC)
NINE_ONE = datetime(2025, 12, 25, 9, 1, tzinfo=UTC)


def test_the_store_counts_and_the_local_worker_only_adds_its_durations() -> None:
    store = [
        MinuteThroughput(NINE, 300, 3, None, None),
        MinuteThroughput(NINE_ONE, 50, 1, None, None),
    ]
    # This process's worker did one of the three batches of 9:00, none of 9:01.
    local = [MinuteThroughput(NINE, 100, 1, 0.2, 0.2)]

    merged = with_durations(store, local)

    assert merged == [
        MinuteThroughput(NINE, 300, 3, 0.2, 0.2),
        MinuteThroughput(NINE_ONE, 50, 1, None, None),
    ]


def test_the_api_alone_shows_every_workers_counts_without_durations() -> None:
    store = [MinuteThroughput(NINE, 120, 2, None, None)]
    assert with_durations(store, []) == store
    # A minute this process saw but the store no longer holds (retention) is not shown.
    assert with_durations([], [MinuteThroughput(NINE, 1, 1, 0.1, 0.1)]) == []
