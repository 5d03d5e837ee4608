"""A rule dry-run for people (a table, a progress line) and for scripts (JSON)."""

from __future__ import annotations

import time
from typing import Any, TextIO

from src.application.dry_run import DryRunReport

MIN_INTERVAL_SECONDS = 0.5


def dry_run_json(report: DryRunReport) -> dict[str, Any]:
    """The shape of ``GET /api/rules/{nudge_type}/dry-run``."""
    return {
        "nudge_type": report.nudge_type,
        "days": report.days,
        "since": report.since.isoformat(),
        "would_target": report.would_target,
        "already_targeted": report.already_targeted,
        "converted_after": report.converted_after,
        "users_scanned": report.users_scanned,
        "events_scanned": report.events_scanned,
        "weeks": [
            {
                "week_start": week.week_start.isoformat(),
                "would_target": week.would_target,
                "already_targeted": week.already_targeted,
                "converted_after": week.converted_after,
            }
            for week in report.weeks
        ],
        "history_days": report.history_days,
    }


def format_dry_run(report: DryRunReport) -> str:
    lines = [
        f"{report.nudge_type} over the last {report.days} days "
        f"({report.events_scanned} events of {report.users_scanned} users replayed)",
        f"would target {report.would_target} users, "
        f"{report.already_targeted} already nudged by the live rule, "
        f"{report.converted_after} did what it aims at afterwards",
    ]
    if report.history_days is not None and report.days > report.history_days:
        lines.append(
            f"note: the inbox keeps processed events {report.history_days} days "
            "(EVENT_RETENTION_DAYS): older ones were not replayed"
        )
    if report.weeks:
        lines.append("")
        lines.append(f"{'week of':<12}{'would target':>14}{'already':>10}{'converted':>11}")
        lines.extend(
            f"{week.week_start.isoformat():<12}{week.would_target:>14}"
            f"{week.already_targeted:>10}{week.converted_after:>11}"
            for week in report.weeks
        )
    return "\n".join(lines)


class DryRunProgress:
    """``replaying: N events, M users`` on stderr, at most twice a second."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = 0.0
        self._shown = False

    def update(self, events: int, users: int) -> None:
        now = time.perf_counter()
        if now - self._last < MIN_INTERVAL_SECONDS:
            return
        self._last = now
        line = f"replaying: {events} events, {users} users"
        self._stream.write(f"\r{line}" if self._tty else f"{line}\n")
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._shown and self._tty:
            self._stream.write("\n")
            self._stream.flush()
