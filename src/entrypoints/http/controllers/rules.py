"""``/api/rules``: what a nudge rule would have done over the stored history."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from pydantic import BaseModel, Field

from src.application.dry_run import DEFAULT_DAYS, RuleDryRun
from src.entrypoints.dry_run_output import dry_run_json
from src.entrypoints.http.errors import error_responses


class DryRunWeekOut(BaseModel):
    """The users the rule would have targeted in one week, and what became of them."""

    week_start: str = Field(description="the Monday (UTC) of the week users were targeted")
    would_target: int
    already_targeted: int
    converted_after: int


class DryRunOut(BaseModel):
    """The rule replayed over the history as if live from its start; nothing written."""

    nudge_type: str
    days: int
    since: str
    would_target: int = Field(description="users the rule would have nudged")
    already_targeted: int = Field(description="of those, users the live rule already nudged")
    converted_after: int = Field(description="of those, users who later did what it aims at")
    users_scanned: int
    events_scanned: int
    weeks: list[DryRunWeekOut]
    history_days: int | None = Field(
        None,
        description="days of processed events the inbox keeps (EVENT_RETENTION_DAYS): "
        "a longer replay sees only those",
    )


class RulesController(Controller):
    path = "/api/rules"
    tags = ("rules",)

    @get(
        "/{nudge_type:str}/dry-run",
        sync_to_thread=True,
        description="Replays the processed events of the last `days` days (default 90) "
        "through the rule, in bounded batches, writing nothing. 404 names the known "
        "nudge types.",
        responses=error_responses(400, 401, 404, 503),
    )
    def dry_run(
        self,
        dry_run: NamedDependency[RuleDryRun],
        nudge_type: FromPath[str],
        days: Annotated[
            int, QueryParameter(description="the history replayed, 1 to 3650 days")
        ] = DEFAULT_DAYS,
    ) -> DryRunOut:
        report: dict[str, Any] = dry_run_json(dry_run.dry_run(nudge_type, days))
        return DryRunOut.model_validate(report)
