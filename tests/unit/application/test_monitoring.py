"""The dashboard's in-memory statistics and the monitor, on a fake clock and fakes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from src.application.errors import RequestInvalidError
from src.application.monitoring import (
    DURATION_BUCKETS,
    EventError,
    MinuteThroughput,
    NudgeTypeFigures,
    OperationsMonitor,
    ProcessingStats,
    percentile,
)
from src.application.ports.inbox import QueueStatus
from src.application.processing.policy import ProcessingPolicy
from src.application.processing.processor import EventQueueProcessor
from src.application.processing.summary import DrainSummary
from src.application.projector import ReadModelProjector
from tests.fakes import FakeClock, FakeEventInbox, FakeReadModelStore
from tests.unit.application.conftest import World


def batch(processed: int, duration_ms: float) -> DrainSummary:
    return DrainSummary(claimed=processed, processed=processed, batches=1, duration_ms=duration_ms)


def test_throughput_is_counted_per_minute_with_median_and_p95() -> None:
    clock = FakeClock(datetime(2026, 1, 1, 9, 0, 10, tzinfo=UTC))
    stats = ProcessingStats(clock)
    for duration in (10, 20, 30, 40, 1000):
        stats.batch_processed(batch(10, duration))
    clock.advance(minutes=1)
    stats.batch_processed(batch(3, 5))

    first, second = stats.throughput()
    assert (first.minute, first.processed, first.batches) == (
        datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
        50,
        5,
    )
    assert (first.median_seconds, first.p95_seconds) == (0.03, 1.0)
    assert (second.processed, second.median_seconds, second.p95_seconds) == (3, 0.005, 0.005)


def test_samples_older_than_the_window_are_forgotten() -> None:
    clock = FakeClock()
    stats = ProcessingStats(clock)
    stats.batch_processed(batch(1, 1))
    stats.record_queue(QueueStatus(5, 0, 0, 0, 0, 0, 12.0))
    clock.advance(minutes=61)
    stats.record_queue(QueueStatus(0, 0, 5, 0, 0, 0, None))

    assert stats.throughput() == []
    assert [sample.pending for sample in stats.queue_history()] == [0]
    assert stats.totals().processed == 1  # counters never go back


def test_totals_add_up_like_prometheus_counters_and_buckets() -> None:
    clock = FakeClock()
    stats = ProcessingStats(clock)
    stats.batch_processed(
        DrainSummary(processed=4, duplicates=1, failed=2, dead=1, batches=1, duration_ms=30)
    )
    stats.batch_processed(batch(6, 700))
    totals = stats.totals()

    assert (totals.processed, totals.duplicates, totals.failed, totals.dead) == (10, 1, 2, 1)
    assert totals.batches == 2
    assert totals.duration_sum_seconds == pytest.approx(0.73)
    by_bound = dict(zip(DURATION_BUCKETS, totals.duration_buckets, strict=True))
    assert (by_bound[0.025], by_bound[0.05], by_bound[0.5], by_bound[1.0]) == (0, 1, 1, 2)
    assert totals.last_success is None
    stats.drain_finished(DrainSummary())
    assert stats.totals().last_success == clock.now()


def test_percentile_is_a_value_that_was_observed() -> None:
    assert percentile([], 95) is None
    assert percentile([3.0], 50) == 3.0
    assert percentile([float(n) for n in range(1, 101)], 95) == 95.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0


class FakeOperationsReadModel:
    def __init__(self) -> None:
        self.since: list[datetime] = []

    def users_by_app(self, since: datetime) -> Mapping[str, int]:
        self.since.append(since)
        return {"phoenix-cv": 1}

    def nudge_funnel(self, since: datetime) -> Sequence[NudgeTypeFigures]:
        return [NudgeTypeFigures("letters_to_cv", 2, 1, 1, 0)]

    def recent_errors(self, limit: int) -> Sequence[EventError]:
        return []

    def throughput(self, since: datetime) -> Sequence[MinuteThroughput]:
        return [MinuteThroughput(since.replace(second=0, microsecond=0), 4, 2, None, None)]

    def processed_since(self, since: datetime) -> int:
        return 4

    def insights_by_kind(self, since: datetime) -> Mapping[str, int]:
        return {"skills_gap": 3}


def test_a_dashboard_refresh_samples_the_queue_and_covers_the_period() -> None:
    clock = FakeClock()
    inbox = FakeEventInbox(clock)
    operations = FakeOperationsReadModel()
    stats = ProcessingStats(clock)
    monitor = OperationsMonitor(inbox, FakeReadModelStore(), operations, stats, clock)

    figures = monitor.get_dashboard(7)
    clock.advance(seconds=15)
    monitor.sample_queue()

    assert figures.ecosystem.period_days == 7
    assert operations.since == [datetime(2025, 12, 25, 9, 0, tzinfo=UTC)]
    assert figures.users_by_app == {"phoenix-cv": 1}
    assert len(stats.queue_history()) == 2
    with pytest.raises(RequestInvalidError) as refused:
        monitor.get_dashboard(0)
    assert refused.value.field == "days"


def test_the_processor_reports_every_batch_and_the_end_of_each_drain(world: World) -> None:
    stats = ProcessingStats(world.clock)
    processor = EventQueueProcessor(
        inbox=world.inbox,
        journeys=world.journeys,
        projector=ReadModelProjector(world.journeys, world.read_models),
        catalogue=world.journeys.catalogue,
        clock=world.clock,
        policy=ProcessingPolicy(batch_size=2, retry_backoff_seconds=0.0),
        observer=stats,
    )
    for user in ("u1", "u2", "u3"):
        world.emit("letter.generated", "phoenix-letters", user)

    asyncio.run(processor.drain())

    totals = stats.totals()
    assert (totals.processed, totals.batches) == (3, 2)
    assert totals.last_success == world.clock.now()
    assert sum(minute.processed for minute in stats.throughput()) == 3
