"""The background worker: drain, then wait for the next poll (or a wake-up), until stopped.

A fault of the store (down, restarting) is logged and retried with a growing pause; the
worker never dies of it, and the leased events of a crashed batch come back by themselves
when their lease expires. ``stop()`` lets the batch in hand finish; one that is still
running after ``grace_seconds`` is cancelled and its events released to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from src.application.processor import DrainSummary, EventQueueProcessor, describe

logger = logging.getLogger(__name__)

MAX_ERROR_PAUSE_SECONDS = 30.0
TICK_SECONDS = 0.05


class BackgroundWorker:
    def __init__(
        self,
        processor: EventQueueProcessor,
        poll_interval_seconds: float,
        *,
        drain_at_start: bool = True,
        grace_seconds: float = 10.0,
    ) -> None:
        self._processor = processor
        self._poll_interval = poll_interval_seconds
        self._drain_at_start = drain_at_start
        self._grace = grace_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._stop_requested_at: float | None = None
        self.running = False
        self.last_error: str | None = None

    def stop(self) -> None:
        self._stop_requested_at = time.monotonic()
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Start the next drain now instead of at the next poll (LISTEN/NOTIFY, an ingest)."""
        self._wake.set()

    def run(self) -> None:
        """Blocking; returns once ``stop()`` was called and the batch in hand is done."""
        self.running = True
        try:
            asyncio.run(self._loop())
        finally:
            self.running = False

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
                logger.warning(
                    "worker drain failed, retrying",
                    extra={"error": self.last_error, "pause_seconds": pause},
                )
                await self._sleep(pause)
                pause = min(pause * 2, MAX_ERROR_PAUSE_SECONDS)
                continue
            self.last_error = None
            pause = self._poll_interval
            _log_drain(summary)
            await self._sleep(self._poll_interval)

    async def _drain(self) -> DrainSummary:
        """Run one drain, cancelling it if a stop was asked more than the grace ago."""
        task = asyncio.ensure_future(self._processor.drain(should_stop=self._stop.is_set))
        while not task.done():
            await asyncio.wait({task}, timeout=TICK_SECONDS)
            requested = self._stop_requested_at
            if requested is not None and time.monotonic() - requested > self._grace:
                task.cancel()
        return task.result()

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less when woken or stopped."""
        deadline = time.monotonic() + seconds
        while not self._wake.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(TICK_SECONDS, max(deadline - time.monotonic(), 0)))


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
