"""Prometheus metrics: one registry per app, the flywheel's figures read at scrape time.

The queue depth, the events processed in the last minute and the scaling signal are
asked of the store when Prometheus scrapes, not cached: a gauge that only moves when the
worker runs would hide exactly the stalls it is there to show, and only the store knows
what workers in other processes did. Counters and the batch histogram come from
``ProcessingStats`` (this process's own worker, none for ``serve --no-worker``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from litestar.types import ASGIApp, Scope
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from src.application.monitoring import DURATION_BUCKETS
from src.application.processing.describe import describe
from src.entrypoints.http.monitoring.llm_metrics import skills_extraction_metrics
from src.entrypoints.http.request_timing import timed
from src.entrypoints.http.server_runtime import ServerRuntime

logger = logging.getLogger(__name__)

QUEUE_STATUSES = ("pending", "processing", "processed", "duplicate", "failed", "dead")


class FlywheelCollector(Collector):
    def __init__(self, runtime: ServerRuntime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        yield from self._queue()
        totals = self._runtime.container.processing_stats().totals()
        for name, value, text in (
            ("processed", totals.processed, "events processed"),
            ("duplicates", totals.duplicates, "events found to be duplicates"),
            ("failed", totals.failed, "event failures that will be retried"),
            ("dead", totals.dead, "events that ran out of attempts"),
        ):
            yield CounterMetricFamily(
                f"flywheel_events_{name}", f"Number of {text} by this process.", value=value
            )
        buckets = [
            (f"{bound:g}", count)
            for bound, count in zip(DURATION_BUCKETS, totals.duration_buckets, strict=True)
        ]
        buckets.append(("+Inf", totals.batches))
        yield HistogramMetricFamily(
            "flywheel_batch_duration_seconds",
            "Time to process one batch (claim to commit), by this process.",
            buckets=buckets,
            sum_value=totals.duration_sum_seconds,
        )
        yield GaugeMetricFamily(
            "flywheel_worker_up",
            "1 when this process's background worker runs.",
            value=1 if self._runtime.worker_running else 0,
        )
        if totals.last_success is not None:
            yield GaugeMetricFamily(
                "flywheel_worker_last_success_timestamp_seconds",
                "Unix time of the last drain that ended without error.",
                value=totals.last_success.timestamp(),
            )
        yield from self._skills_extraction()

    def _skills_extraction(self) -> Iterator[Metric]:
        """The language model's figures, only when one is configured (LLM_BASE_URL)."""
        container = self._runtime.container
        if not container.settings().llm.enabled:
            return
        extractor = container.skills_extractor()
        if extractor is not None:
            yield from skills_extraction_metrics(extractor.totals())

    def _queue(self) -> Iterator[Metric]:
        """Queue gauges, plus ``flywheel_store_up``; no queue gauges while the store is away."""
        try:
            status = self._runtime.require_open().monitor().sample_queue()
        except Exception as error:  # noqa: BLE001 - a scrape reports the outage, never fails on it
            logger.info("metrics: queue unavailable", extra={"error": describe(error)})
            yield GaugeMetricFamily("flywheel_store_up", "1 when the store answers.", value=0)
            return
        yield GaugeMetricFamily("flywheel_store_up", "1 when the store answers.", value=1)
        depth = GaugeMetricFamily(
            "flywheel_queue_events", "Events in phoenix_events by status.", labels=["status"]
        )
        for name in QUEUE_STATUSES:
            depth.add_metric([name], getattr(status, _field(name)))
        yield depth
        yield GaugeMetricFamily(
            "flywheel_queue_oldest_pending_age_seconds",
            "Age of the oldest pending event; 0 when nothing is pending.",
            value=status.oldest_pending_age_seconds or 0.0,
        )
        yield from self._store_figures()

    def _store_figures(self) -> Iterator[Metric]:
        """What every worker did and what the queue needs, as the store says: right
        whatever the number of API and worker processes, and whichever one is scraped."""
        try:
            monitor = self._runtime.require_open().monitor()
            processed = monitor.processed_last_minute()
        except Exception as error:  # noqa: BLE001 - a scrape reports what it can
            logger.info("metrics: throughput unavailable", extra={"error": describe(error)})
        else:
            yield GaugeMetricFamily(
                "flywheel_events_processed_last_minute",
                "Events processed in the last minute by every worker (from processed_at).",
                value=processed,
            )
        try:
            signal = self._runtime.require_open().monitor().scaling_signal()
        except Exception as error:  # noqa: BLE001 - a scrape reports what it can
            logger.info("metrics: scaling signal unavailable", extra={"error": describe(error)})
            return
        if signal is None:
            return
        yield GaugeMetricFamily(
            "flywheel_scaling_claimable",
            "Events a worker has yet to finish: pending, failed awaiting a retry, in hand.",
            value=signal.claimable,
        )
        yield GaugeMetricFamily(
            "flywheel_scaling_useful_workers",
            "Workers the queue can keep busy: min(ceil(claimable / batch size), users).",
            value=signal.useful_workers,
        )
        yield GaugeMetricFamily(
            "flywheel_scaling_oldest_pending_age_seconds",
            "The scaling signal's age of the oldest pending event; 0 when none is pending.",
            value=signal.oldest_pending_age_seconds or 0.0,
        )


def _field(status: str) -> str:
    return "duplicates" if status == "duplicate" else status


class HttpMetrics:
    """Request counts and latency, labelled by route template (bounded cardinality)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "flywheel_http_requests",
            "HTTP requests answered.",
            ["method", "path", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "flywheel_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "path"],
            registry=registry,
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return timed(app, self._record)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        # The route template, not the path: /api/users/{user_id}/journey is one series.
        path = scope.get("path_template") or "unmatched"
        method = str(scope.get("method", ""))
        self.requests.labels(method, path, str(status)).inc()
        self.latency.labels(method, path).observe(seconds)


def new_registry(runtime: ServerRuntime) -> tuple[CollectorRegistry, HttpMetrics]:
    registry = CollectorRegistry()
    registry.register(FlywheelCollector(runtime))
    return registry, HttpMetrics(registry)
