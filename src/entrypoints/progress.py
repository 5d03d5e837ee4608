"""A one-line progress report for long drains, rewritten in place on a terminal."""

from __future__ import annotations

import time
from typing import TextIO

from src.application.processing.summary import DrainSummary

MIN_INTERVAL_SECONDS = 0.5


class ProgressLine:
    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = total
        self._stream = stream
        self._started = time.perf_counter()
        self._last = 0.0
        self._shown = False
        self._tty = stream.isatty()

    def update(self, summary: DrainSummary) -> None:
        now = time.perf_counter()
        if now - self._last < MIN_INTERVAL_SECONDS:
            return
        self._last = now
        elapsed = now - self._started
        rate = summary.claimed / elapsed if elapsed > 0 else 0.0
        total = max(self._total, summary.claimed)
        line = (
            f"processing: {summary.claimed}/{total} events "
            f"({rate:.0f}/s, {summary.processed} processed, {summary.duplicates} duplicates, "
            f"{summary.failed + summary.dead} failed)"
        )
        self._stream.write(f"\r{line}" if self._tty else f"{line}\n")
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._shown and self._tty:
            self._stream.write("\n")
            self._stream.flush()
