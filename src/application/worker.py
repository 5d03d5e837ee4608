"""The background worker: drain, then wait for the next poll (or a wake-up), until stopped.

A fault of the store (down, restarting) is logged and retried with a growing pause; the
worker never dies of it, and the leased events of a crashed batch come back by themselves
when their lease expires. While it pauses after a failure, a cheap ``probe`` of the store
runs every ``PROBE_INTERVAL_SECONDS``: once a store seen down answers again, the worker
drains at once instead of sleeping out the rest of its pause. ``stop()`` lets the batch
in hand finish; one that is still running after ``grace_seconds`` is cancelled and its
events released to the queue. A periodic ``maintenance`` of the store (the inbox's
retention) runs in a thread beside the drains, never in their way: the worker goes on
claiming while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from src.application.processing.describe import describe
from src.application.processing.processor import EventQueueProcessor
from src.application.processing.summary import DrainSummary

logger = logging.getLogger(__name__)

MAX_ERROR_PAUSE_SECONDS = 30.0
PROBE_INTERVAL_SECONDS = 1.0
TICK_SECONDS = 0.05
HEARTBEAT_SECONDS = 1.0
MAINTENANCE_INTERVAL_SECONDS = 60.0


class BackgroundWorker:
    def __init__(
        self,
        processor: EventQueueProcessor,
        poll_interval_seconds: float,
        *,
        drain_at_start: bool = True,
        grace_seconds: float = 10.0,
        probe: Callable[[], bool] | None = None,
        pending: Callable[[], int] | None = None,
        heartbeat: Callable[[], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        maintenance: Callable[[], bool] | None = None,
        maintenance_interval_seconds: float = MAINTENANCE_INTERVAL_SECONDS,
    ) -> None:
        """``probe`` says whether the store answers now (cheaply); ``pending`` counts the
        events left in the queue, for the log line of a stop; ``heartbeat`` is called
        about every ``HEARTBEAT_SECONDS`` while the loop goes round (idle, draining or
        pausing after a failure), for a health check in another process.
        ``maintenance`` is called as the first drain starts, then every
        ``maintenance_interval_seconds`` (at once again when it returns True: work left),
        in a thread of its own while the drains go on; a failure of it is logged."""
        self._maintenance = maintenance
        self._maintenance_interval = maintenance_interval_seconds
        self._maintenance_due = float("-inf")
        self._maintenance_task: asyncio.Future[None] | None = None
        self._heartbeat = heartbeat
        self._last_beat = float("-inf")
        self._processor = processor
        self._probe = probe
        self._pending = pending
        self._now = now
        self._poll_interval = poll_interval_seconds
        self._drain_at_start = drain_at_start
        self._grace = grace_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._stop_requested_at: float | None = None
        self.running = False
        self.last_error: str | None = None
        """Why the drains fail, in full: for the log and the operator's eyes only."""
        self.last_failure: Exception | None = None
        """The exception itself, so a public answer can say what kind of failure it is."""
        self.failing_since: datetime | None = None
        self._failing_started: float | None = None
        self._store_seen_down = False
        self._idle = False

    def stop(self) -> None:
        self._stop_requested_at = time.monotonic()
        self._stop.set()
        self._wake.set()

    @property
    def failing_for_seconds(self) -> float | None:
        """How long every drain has failed; None while the worker is healthy."""
        started = self._failing_started
        return None if started is None else time.monotonic() - started

    def wake(self) -> None:
        """Start the next drain now instead of at the next poll (LISTEN/NOTIFY, an ingest)."""
        self._wake.set()

    def run(self) -> None:
        """Blocking; returns once ``stop()`` was called and the batch in hand is done."""
        self.running = True
        try:
            asyncio.run(self._with_maintenance(self._loop()))
        finally:
            self.running = False

    async def _with_maintenance(self, loop: Awaitable[None]) -> None:
        """The loop, then the maintenance in hand (a bounded pass), before stopping."""
        try:
            await loop
        finally:
            task = self._maintenance_task
            if task is not None and not task.done():
                await asyncio.wait({task})

    def _start_maintenance(self) -> None:
        """Start the store's maintenance when due and none is running; never waits for it."""
        if self._maintenance is None or self._stop.is_set():
            return
        task = self._maintenance_task
        if task is not None and not task.done():
            return
        if time.monotonic() < self._maintenance_due:
            return
        self._maintenance_task = asyncio.ensure_future(self._maintain(self._maintenance))

    async def _maintain(self, maintenance: Callable[[], bool]) -> None:
        more = False
        try:
            more = await asyncio.to_thread(maintenance)
        except Exception as error:  # noqa: BLE001 - maintenance never stops the work
            logger.warning("store maintenance failed", extra={"error": describe(error)})
        self._maintenance_due = time.monotonic() + (0.0 if more else self._maintenance_interval)

    async def _loop(self) -> None:
        pause = self._poll_interval
        if not self._drain_at_start:
            await self._sleep(self._poll_interval)
        while not self._stop.is_set():
            self._wake.clear()
            try:
                summary = await self._drain()
            except asyncio.CancelledError:
                logger.warning("worker stopped mid-batch; its events were released")
                return
            except Exception as error:  # noqa: BLE001 - a supervisor loop survives any fault
                self.last_error = describe(error)
                self.last_failure = error
                self._idle = False  # a later empty drain starts a new idle period
                if self._failing_started is None:
                    self._failing_started = time.monotonic()
                    self.failing_since = self._now()
                logger.warning(
                    "worker drain failed, retrying",
                    extra={"error": self.last_error, "pause_seconds": pause},
                )
                await self._pause_after_failure(pause)
                pause = min(pause * 2, MAX_ERROR_PAUSE_SECONDS)
                continue
            self.last_error = self.last_failure = None
            self.failing_since = self._failing_started = None
            self._store_seen_down = False
            pause = self._poll_interval
            if self._stop.is_set():
                self._log_stop(summary)
                return
            _log_drain(summary)
            self._log_idle(summary)
            self._start_maintenance()
            await self._sleep(self._poll_interval)

    async def _drain(self) -> DrainSummary:
        """Run one drain, cancelling it if a stop was asked more than the grace ago."""
        task = asyncio.ensure_future(self._processor.drain(should_stop=self._stop.is_set))
        while not task.done():
            await asyncio.wait({task}, timeout=TICK_SECONDS)
            self._beat()
            self._start_maintenance()  # a long drain is when dead rows pile up
            requested = self._stop_requested_at
            if requested is not None and time.monotonic() - requested > self._grace:
                task.cancel()
        return task.result()

    async def _pause_after_failure(self, seconds: float) -> None:
        """Wait ``seconds``, or less: woken, stopped, or the store is back.

        Only a store that a probe saw down ends the pause early when it answers again:
        a drain that fails with the store up (a bug, a constraint) keeps its backoff
        rather than retrying at the probe's pace.
        """
        deadline = time.monotonic() + seconds
        next_probe = time.monotonic() + min(PROBE_INTERVAL_SECONDS, seconds)
        while not self._wake.is_set() and time.monotonic() < deadline:
            self._beat()
            if self._probe is not None and time.monotonic() >= next_probe:
                answers = await asyncio.to_thread(self._probe_store)
                if answers and self._store_seen_down:
                    self._store_seen_down = False
                    logger.info("store answers again; draining now")
                    return
                self._store_seen_down = self._store_seen_down or not answers
                next_probe = time.monotonic() + PROBE_INTERVAL_SECONDS
            await asyncio.sleep(min(TICK_SECONDS, max(deadline - time.monotonic(), 0)))

    def _probe_store(self) -> bool:
        if self._probe is None:
            return False
        try:
            return self._probe()
        except Exception:  # noqa: BLE001 - a probe that cannot run means "not answering"
            return False

    def _log_idle(self, summary: DrainSummary) -> None:
        """Once per idle period, in the French words operators search the log for (see
        docs/operations.md, "Troubleshooting"): a worker that only ever says this while apps
        publish is reading another store (check ``DATABASE_URL``)."""
        if summary.claimed:
            self._idle = False
        elif not self._idle:
            self._idle = True
            logger.info("Aucun événement à traiter")

    def _log_stop(self, summary: DrainSummary) -> None:
        """A stop ends the drain between batches: say what is left, never "queue drained"."""
        pending: int | None = None
        if self._pending is not None:
            try:
                pending = self._pending()
            except Exception:  # noqa: BLE001 - the count is informative only
                pending = None
        logger.info(
            "worker stopping with %s events pending",
            "unknown" if pending is None else pending,
            extra={"pending": pending, "processed": summary.processed},
        )

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less when woken or stopped."""
        deadline = time.monotonic() + seconds
        while not self._wake.is_set() and time.monotonic() < deadline:
            self._beat()
            await asyncio.sleep(min(TICK_SECONDS, max(deadline - time.monotonic(), 0)))

    def _beat(self) -> None:
        if self._heartbeat is None or time.monotonic() - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = time.monotonic()
        try:
            self._heartbeat()
        except Exception as error:  # noqa: BLE001 - a health signal never stops the work
            logger.warning("heartbeat not written", extra={"error": describe(error)})


def _log_drain(summary: DrainSummary) -> None:
    if summary.claimed:
        logger.info(
            "queue drained",
            extra={
                "processed": summary.processed,
                "duplicates": summary.duplicates,
                "failed": summary.failed,
                "dead": summary.dead,
                "batches": summary.batches,
                "duration_ms": round(summary.duration_ms, 1),
            },
        )
