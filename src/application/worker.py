"""The background worker: drain, then wait for the next poll (or a wake-up), forever.

A fault of the store (down, restarting) is logged and retried with a growing pause;
the worker never dies of it, and the leased events of a crashed batch come back by
themselves when their lease expires.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from src.application.processor import DrainSummary, EventQueueProcessor

logger = logging.getLogger(__name__)

MAX_ERROR_PAUSE_SECONDS = 30.0


class BackgroundWorker:
    def __init__(self, processor: EventQueueProcessor, poll_interval_seconds: float) -> None:
        self._processor = processor
        self._poll_interval = poll_interval_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.running = False
        self.last_error: str | None = None

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Start the next drain now instead of at the next poll (LISTEN/NOTIFY, an ingest)."""
        self._wake.set()

    def run(self) -> None:
        """Blocking loop; returns after ``stop()``, releasing the batch in hand if any."""
        self.running = True
        error_pause = self._poll_interval
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    summary = asyncio.run(self._processor.drain(should_stop=self._stop.is_set))
                except Exception as error:  # noqa: BLE001 - a supervisor loop survives any fault
                    self.last_error = f"{type(error).__name__}: {error}"
                    logger.warning(
                        "worker drain failed, retrying",
                        extra={"error": self.last_error, "pause_seconds": error_pause},
                    )
                    self._wake.wait(error_pause)
                    error_pause = min(error_pause * 2, MAX_ERROR_PAUSE_SECONDS)
                    continue
                self.last_error = None
                error_pause = self._poll_interval
                _log_drain(summary)
                self._wake.wait(self._poll_interval)
        finally:
            self.running = False


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
