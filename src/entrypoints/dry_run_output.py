"""A rule dry-run for scripts: the JSON of the HTTP API and of ``rules dry-run --json``."""

from __future__ import annotations

from typing import Any

from src.application.dry_run import DryRunReport


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
