"""``phoenix-flywheel process``: drain once, or for a bounded run (a job runner's task).

``--max-seconds`` and ``--max-events`` bound the run; SIGTERM ends it too. Each is checked
between batches, so the batch in hand always finishes and nothing is left half-done: a
runner's timeout must allow a batch beyond the limit. Such a run exits 0 and says what
remains, for the next run (or another runner) to take.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from src.application.processing.summary import DrainSummary
from src.entrypoints.bootstrap import Container, publish_worker_settings
from src.entrypoints.cli.output import EXIT_OK, ProgressLine, format_summary


def run_process(container: Container, args: argparse.Namespace) -> int:
    """Drain once; a run bounded for a job runner stops at its limit or on SIGTERM, having
    finished the batch in hand, and says what is left for the next run (exit 0)."""
    publish_worker_settings(container)
    limits = RunLimits(args.max_seconds, args.max_events)
    previous = signal.signal(signal.SIGTERM, limits.terminate)
    try:
        summary = drain_with_progress(
            container, should_stop=limits.should_stop, max_events=args.max_events
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(format_summary(summary))
    stopped_by = limits.stopped_by(summary)
    if stopped_by is not None:
        status = container.queries().get_queue_status()
        print(
            f"stopped by {stopped_by}: {status.pending + status.failed} events remain "
            f"(pending {status.pending}, failed awaiting a retry {status.failed}, "
            f"in workers' hands {status.processing})"
        )
    return EXIT_OK


class RunLimits:
    """When a bounded ``process`` stops: its time, its events, or SIGTERM; checked
    between batches, so the batch in hand always finishes."""

    def __init__(self, max_seconds: float | None, max_events: int | None) -> None:
        self._deadline = None if max_seconds is None else time.monotonic() + max_seconds
        self._max_seconds = max_seconds
        self._max_events = max_events
        self._terminated = threading.Event()
        self._reason: str | None = None

    def terminate(self, _signum: int, _frame: FrameType | None) -> None:
        self._terminated.set()

    def should_stop(self) -> bool:
        if self._terminated.is_set():
            self._reason = "SIGTERM"
        elif self._deadline is not None and time.monotonic() >= self._deadline:
            self._reason = f"--max-seconds {self._max_seconds:g}"
        return self._reason is not None

    def stopped_by(self, summary: DrainSummary) -> str | None:
        """What stopped the run; None when it ended because nothing was left to claim."""
        if (
            self._reason is None
            and self._max_events is not None
            and summary.claimed >= self._max_events
        ):
            return f"--max-events {self._max_events}"
        return self._reason


def drain_with_progress(
    container: Container,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    max_events: int | None = None,
) -> DrainSummary:
    pending = container.queries().get_queue_status().pending
    total = pending if max_events is None else min(pending, max_events)
    progress = ProgressLine(total=total, stream=sys.stderr)
    summary = asyncio.run(
        container.processor().drain(
            on_progress=progress.update, should_stop=should_stop, max_events=max_events
        )
    )
    progress.finish()
    return summary
