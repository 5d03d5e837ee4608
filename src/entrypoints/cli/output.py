"""What the command line prints: its exit codes, tables and summaries for people, and the
progress lines of long runs (rewritten in place on a terminal)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TextIO

from src.application.dry_run import DryRunReport
from src.application.experiments import ExperimentReport
from src.application.nudge_choice import SlotReport
from src.application.processing.summary import DrainSummary

# The exit codes, one meaning each (docs/command-line.md, "Exit codes").
EXIT_OK = 0
EXIT_STORE = 1
"""The store is unreachable or not migrated; for ``worker-alive``, the worker is not."""
EXIT_INPUT = 2
"""Bad input or a wrong setting; nothing was written."""
EXIT_LISTEN = 3
"""``serve`` cannot listen on its address."""
EXIT_BUSY = 3
"""The same code as ``EXIT_LISTEN``: try again in a moment (``forget``)."""

MIN_INTERVAL_SECONDS = 0.5
"""The progress lines are rewritten at most twice a second."""


def format_experiments(reports: Sequence[ExperimentReport]) -> str:
    """A table per experiment, for people: rate with its interval, chance of being best."""
    lines: list[str] = []
    for report in reports:
        lines.append(
            f"{report.nudge_type} ({report.mode}, conversions within "
            f"{report.attribution_days} days of exposure)"
        )
        lines.append(
            f"  {'variant':<12} {'assigned':>8} {'exposed':>8} {'converted':>9} "
            f"{'rate':>6}  {'95% CI':<13} {'P(best)':>7} {'p-value':>7}  message"
        )
        for v in report.variants:
            rate = f"{v.conversion_rate:.0%}" if v.conversion_rate is not None else "-"
            interval = f"{v.ci_low:.0%}-{v.ci_high:.0%}"
            p_value = f"{v.p_value:.3f}" if v.p_value is not None else "-"
            lines.append(
                f"  {v.variant:<12} {v.assigned:>8} {v.exposed:>8} {v.converted:>9} "
                f"{rate:>6}  {interval:<13} {v.probability_best:>7.0%} {p_value:>7}  "
                f"{v.message}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def format_nudge_choice(slots: Sequence[SlotReport]) -> str:
    """Which nudge types win the users' slots under the daily cap, and how they convert."""
    lines = [
        "nudge choice under the daily cap (slots won = exposures, all variants together)",
        f"  {'nudge type':<18} {'detected':>8} {'won':>6} {'share':>6} {'converted':>9} "
        f"{'rate':>6}  {'95% CI':<13} {'P(best)':>7}",
    ]
    for slot in slots:
        share = f"{slot.share:.0%}" if slot.share is not None else "-"
        rate = f"{slot.conversion_rate:.0%}" if slot.conversion_rate is not None else "-"
        interval = f"{slot.ci_low:.0%}-{slot.ci_high:.0%}"
        lines.append(
            f"  {slot.nudge_type:<18} {slot.detected:>8} {slot.won:>6} {share:>6} "
            f"{slot.converted:>9} {rate:>6}  {interval:<13} {slot.probability_best:>7.0%}"
        )
    return "\n".join(lines)


def format_summary(summary: DrainSummary) -> str:
    seconds = summary.duration_ms / 1000
    rate = summary.claimed / seconds if seconds > 0 else 0.0
    return (
        f"processed {summary.processed}, duplicates {summary.duplicates}, "
        f"failed {summary.failed} (will retry), dead {summary.dead}, "
        f"nudges detected {summary.nudges_detected} "
        f"in {seconds:.2f}s ({rate:.0f} events/s)"
    )


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


class ProgressLine:
    """A one-line progress report for long drains, rewritten in place on a terminal."""

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
