"""What an operator watches: the queue over time, throughput, the funnel, the last errors.

The queue is read from the store, and sampled in memory by the process that serves the
dashboard (the last hour only): a time series of queue depth cannot be rebuilt from the
events' columns afterwards (a failed event that later succeeded leaves no trace of having
waited), and keeping it in memory needs no table, no migration and no write per sample.
The events processed per minute come from the store (``processed_at``), so they count
every worker's, whatever process they run in; batch durations are measured by this
process's own worker only. A restart starts the queue chart afresh; Prometheus
(``/metrics``) is the place for long history.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from src.application.errors import RequestInvalidError
from src.application.ports.clock import Clock
from src.application.ports.inbox import QueueStatus
from src.application.ports.read_models import EcosystemFigures, ReadModelStore
from src.application.processing.summary import DrainSummary
from src.application.scaling import ScalingSignal, ScalingSignalSource

WINDOW = timedelta(hours=1)
# Upper bounds of the batch duration histogram, in seconds (Prometheus ``le`` buckets).
DURATION_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


@dataclass(frozen=True)
class QueueSample:
    at: datetime
    pending: int
    processing: int
    failed: int
    dead: int
    oldest_pending_age_seconds: float | None


@dataclass(frozen=True)
class BatchSample:
    at: datetime
    processed: int
    duration_seconds: float


@dataclass(frozen=True)
class MinuteThroughput:
    minute: datetime
    processed: int
    batches: int
    median_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True)
class ProcessingTotals:
    """Counters since the process started, as Prometheus wants them (never decreasing)."""

    processed: int
    duplicates: int
    failed: int
    dead: int
    batches: int
    duration_sum_seconds: float
    # Cumulative count of batches at or under each bound of DURATION_BUCKETS.
    duration_buckets: tuple[int, ...]
    last_success: datetime | None


@dataclass(frozen=True)
class NudgeTypeFigures:
    """One nudge type's funnel: an exposure is a first display; a conversion counts only
    when the user acted after an exposure, otherwise the action is organic."""

    nudge_type: str
    detected: int
    exposed: int
    converted: int
    organic: int


@dataclass(frozen=True)
class EventError:
    event_id: int
    event_type: str
    app_source: str
    status: str
    attempts: int
    error: str
    received_at: datetime


class OperationsReadModel(Protocol):
    """The figures the dashboard needs beyond the ecosystem endpoint's."""

    def users_by_app(self, since: datetime) -> Mapping[str, int]:
        """Distinct users per ``app_source`` among journeys' entries since ``since``."""
        ...

    def nudge_funnel(self, since: datetime) -> Sequence[NudgeTypeFigures]:
        """Per nudge type, for nudges detected since ``since``, sorted by type."""
        ...

    def recent_errors(self, limit: int) -> Sequence[EventError]:
        """Events that carry an ``ai_processing_error``, latest first."""
        ...

    def throughput(self, since: datetime) -> Sequence[MinuteThroughput]:
        """Events processed per minute since ``since`` by every worker, with the number
        of batches that processed them; no durations (the store keeps none)."""
        ...

    def processed_since(self, since: datetime) -> int:
        """Events processed since ``since``, by every worker."""
        ...

    def insights_by_kind(self, since: datetime) -> Mapping[str, int]:
        """Insights raised since ``since`` (their ``created_at``), per kind, by kind."""
        ...


class ProcessingStats:
    """In-memory record of this process's batches and queue samples (the last hour).

    It is the processor's observer, called from the worker's thread, and read by the HTTP
    handlers and the Prometheus scrape from others: one lock guards it all.
    """

    def __init__(self, clock: Clock, window: timedelta = WINDOW) -> None:
        self._clock = clock
        self._window = window
        self._lock = threading.Lock()
        self._batches: deque[BatchSample] = deque()
        self._queue: deque[QueueSample] = deque()
        self._processed = 0
        self._duplicates = 0
        self._failed = 0
        self._dead = 0
        self._batch_count = 0
        self._duration_sum = 0.0
        self._buckets = [0] * len(DURATION_BUCKETS)
        self._last_success: datetime | None = None

    def batch_processed(self, summary: DrainSummary) -> None:
        now = self._clock.now()
        seconds = summary.duration_ms / 1000
        with self._lock:
            self._processed += summary.processed
            self._duplicates += summary.duplicates
            self._failed += summary.failed
            self._dead += summary.dead
            self._batch_count += 1
            self._duration_sum += seconds
            for index, bound in enumerate(DURATION_BUCKETS):
                if seconds <= bound:
                    self._buckets[index] += 1
            self._batches.append(BatchSample(now, summary.processed, seconds))
            self._forget(self._batches, now)

    def drain_finished(self, summary: DrainSummary) -> None:
        """A drain that ends without raising is a success, even when it found nothing."""
        with self._lock:
            self._last_success = self._clock.now()

    def record_queue(self, status: QueueStatus) -> QueueSample:
        sample = QueueSample(
            at=self._clock.now(),
            pending=status.pending,
            processing=status.processing,
            failed=status.failed,
            dead=status.dead,
            oldest_pending_age_seconds=status.oldest_pending_age_seconds,
        )
        with self._lock:
            self._queue.append(sample)
            self._forget(self._queue, sample.at)
        return sample

    def last_queue_sample(self) -> QueueSample | None:
        with self._lock:
            return self._queue[-1] if self._queue else None

    def queue_history(self) -> list[QueueSample]:
        with self._lock:
            self._forget(self._queue, self._clock.now())
            return list(self._queue)

    def throughput(self) -> list[MinuteThroughput]:
        """Per minute of the window that saw batches: events processed, batch durations."""
        with self._lock:
            self._forget(self._batches, self._clock.now())
            batches = list(self._batches)
        minutes: dict[datetime, list[BatchSample]] = {}
        for batch in batches:
            minute = batch.at.replace(second=0, microsecond=0)
            minutes.setdefault(minute, []).append(batch)
        return [
            MinuteThroughput(
                minute=minute,
                processed=sum(b.processed for b in group),
                batches=len(group),
                median_seconds=percentile([b.duration_seconds for b in group], 50),
                p95_seconds=percentile([b.duration_seconds for b in group], 95),
            )
            for minute, group in sorted(minutes.items())
        ]

    def totals(self) -> ProcessingTotals:
        with self._lock:
            return ProcessingTotals(
                processed=self._processed,
                duplicates=self._duplicates,
                failed=self._failed,
                dead=self._dead,
                batches=self._batch_count,
                duration_sum_seconds=self._duration_sum,
                duration_buckets=tuple(self._buckets),
                last_success=self._last_success,
            )

    def _forget(self, samples: deque[BatchSample] | deque[QueueSample], now: datetime) -> None:
        while samples and samples[0].at < now - self._window:
            samples.popleft()


def percentile(values: Sequence[float], rank: float) -> float | None:
    """Nearest-rank percentile: a value that was actually observed, never interpolated."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(math.ceil(rank / 100 * len(ordered)) - 1, 0)
    return ordered[index]


def with_durations(
    store: Sequence[MinuteThroughput], local: Sequence[MinuteThroughput]
) -> list[MinuteThroughput]:
    """The store's minutes (every worker's events and batches), with the batch durations
    this process measured itself in those minutes, when it runs a worker.

    The counts must come from the store: with the API and its workers in processes of
    their own, this process's memory holds none of them. Durations are kept nowhere
    else, so the API alone shows none.
    """
    measured = {minute.minute: minute for minute in local}
    merged: list[MinuteThroughput] = []
    for minute in store:
        own = measured.get(minute.minute)
        if own is not None:
            minute = replace(minute, median_seconds=own.median_seconds, p95_seconds=own.p95_seconds)
        merged.append(minute)
    return merged


@dataclass(frozen=True)
class DashboardFigures:
    queue: QueueStatus
    queue_history: list[QueueSample]
    throughput: list[MinuteThroughput]
    ecosystem: EcosystemFigures
    users_by_app: Mapping[str, int]
    nudges: Sequence[NudgeTypeFigures]
    errors: Sequence[EventError]
    insights_by_kind: Mapping[str, int] = field(default_factory=dict)


class OperationsMonitor:
    """Everything one refresh of the dashboard shows, in one call."""

    MAX_ERRORS = 20

    def __init__(
        self,
        queue_status: QueueStatusSource,
        read_models: ReadModelStore,
        operations: OperationsReadModel,
        stats: ProcessingStats,
        clock: Clock,
        scaling: ScalingSignalSource | None = None,
    ) -> None:
        self._scaling = scaling
        self._queue_status = queue_status
        self._read_models = read_models
        self._operations = operations
        self._stats = stats
        self._clock = clock

    def sample_queue(self) -> QueueStatus:
        """Read the queue now and keep it in the history."""
        status = self._queue_status.queue_status(self._clock.now())
        self._stats.record_queue(status)
        return status

    def scaling_signal(self) -> ScalingSignal | None:
        """The store's scaling signal now; None where no source was given."""
        return None if self._scaling is None else self._scaling.scaling_signal(self._clock.now())

    def processed_last_minute(self) -> int:
        """Events processed in the last minute by every worker, as the store records them."""
        return self._operations.processed_since(self._clock.now() - timedelta(minutes=1))

    def get_dashboard(self, days: int) -> DashboardFigures:
        if not 1 <= days <= 3650:
            raise RequestInvalidError("days", "must be a whole number of days from 1 to 3650")
        status = self._queue_status.queue_status(self._clock.now())
        self._stats.record_queue(status)
        since = self._clock.now() - timedelta(days=days)
        return DashboardFigures(
            queue=status,
            queue_history=self._stats.queue_history(),
            throughput=with_durations(
                self._operations.throughput(self._clock.now() - WINDOW), self._stats.throughput()
            ),
            ecosystem=self._read_models.ecosystem(since, days),
            users_by_app=self._operations.users_by_app(since),
            nudges=self._operations.nudge_funnel(since),
            errors=self._operations.recent_errors(self.MAX_ERRORS),
            insights_by_kind=self._operations.insights_by_kind(since),
        )


class QueueStatusSource(Protocol):
    """The part of ``EventInbox`` the monitor reads."""

    def queue_status(self, now: datetime) -> QueueStatus: ...
