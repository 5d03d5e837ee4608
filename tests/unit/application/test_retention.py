"""The retention pass and the worker's maintenance, on fakes: batches, budget, schedule."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import pytest

from src.application import retention as retention_module
from src.application.retention import EventRetention, PruneBatch
from src.application.worker import BackgroundWorker
from tests.unit.application.conftest import World


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 3, 1, tzinfo=UTC)


class RowsStore:
    """Old finished rows numbered 1..n; each batch takes the next ``limit`` of them."""

    def __init__(self, rows: int, seconds_per_batch: float = 0.0) -> None:
        self.left = list(range(1, rows + 1))
        self.calls: list[tuple[int, int]] = []
        self.reclaims: list[int] = []
        self.clock = 0.0
        self._seconds = seconds_per_batch

    def prune_batch(
        self, retention_days: int, now: datetime, after_id: int, limit: int
    ) -> PruneBatch:
        self.calls.append((after_id, limit))
        self.clock += self._seconds
        taken = [row for row in self.left if row > after_id][:limit]
        self.left = [row for row in self.left if row not in taken]
        return PruneBatch(deleted=len(taken), last_id=max(taken) if taken else None)

    def reclaim_dead_rows(self, min_dead_rows: int) -> bool:
        self.reclaims.append(min_dead_rows)
        return True


def test_a_pass_goes_on_after_the_last_id_until_a_batch_comes_back_short() -> None:
    store = RowsStore(7)
    report = EventRetention(store, FixedClock(), 30, batch_size=3).prune()
    assert store.calls == [(0, 3), (3, 3), (6, 3)]
    assert (report.deleted, report.batches, report.complete) == (7, 3, True)
    assert report.older_than == datetime(2026, 1, 30, tzinfo=UTC)
    assert store.reclaims == []  # a prune alone never vacuums


def test_a_budget_ends_a_pass_and_says_rows_are_left() -> None:
    store = RowsStore(10, seconds_per_batch=0.4)
    retention = EventRetention(store, FixedClock(), 30, batch_size=2, monotonic=lambda: store.clock)
    report = retention.prune(budget_seconds=1.0)
    assert (report.deleted, report.complete) == (6, False)
    assert store.left == [7, 8, 9, 10]


def test_maintenance_prunes_when_due_and_reclaims_each_time() -> None:
    store = RowsStore(3)
    now = [0.0]
    retention = EventRetention(store, FixedClock(), 30, batch_size=2, monotonic=lambda: now[0])
    assert retention.maintain() is False
    assert store.left == []
    assert len(store.calls) == 2
    now[0] = retention_module.PRUNE_INTERVAL_SECONDS - 1
    retention.maintain()
    assert len(store.calls) == 2  # not due yet
    now[0] = retention_module.PRUNE_INTERVAL_SECONDS
    retention.maintain()
    assert len(store.calls) == 3
    assert store.reclaims == [retention_module.RECLAIM_MIN_DEAD_ROWS] * 3


def test_maintenance_reclaims_only_once_the_old_rows_are_gone() -> None:
    store = RowsStore(10, seconds_per_batch=0.6)
    retention = EventRetention(store, FixedClock(), 30, batch_size=2, monotonic=lambda: store.clock)
    assert retention.maintain() is True  # two batches in the budget, rows left
    assert retention.maintain() is True
    assert store.reclaims == []
    assert retention.maintain() is False  # the last two, then a short batch
    assert store.left == []
    assert store.reclaims == [retention_module.RECLAIM_MIN_DEAD_ROWS]


def test_a_retention_under_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EventRetention(RowsStore(0), FixedClock(), 0)


def test_a_failing_maintenance_is_logged_and_the_worker_drains_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    def maintenance() -> bool:
        calls.append(time.monotonic())
        raise RuntimeError("vacuum refused")

    worker = BackgroundWorker(
        world.processor(),
        poll_interval_seconds=0.02,
        maintenance=maintenance,
        maintenance_interval_seconds=0.05,
    )
    thread = threading.Thread(target=worker.run)
    with caplog.at_level(logging.WARNING):
        thread.start()
        try:
            world.emit("letter.generated", "phoenix-letters", "u1")
            worker.wake()
            deadline = time.monotonic() + 10
            while world.inbox.status_of(1) != "processed" or len(calls) < 3:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        finally:
            worker.stop()
            thread.join(timeout=10)
    assert not thread.is_alive()
    assert any(r.getMessage() == "store maintenance failed" for r in caplog.records)
