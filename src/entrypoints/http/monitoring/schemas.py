"""The body of ``GET /api/dashboard``: one refresh of the dashboard, in one answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from src.application.monitoring import DashboardFigures
from src.entrypoints.http.schemas import QueueStatusOut


class QueueSampleOut(BaseModel):
    """The queue as it was at `at` (sampled by this server)."""

    at: datetime
    pending: int
    processing: int
    failed: int
    dead: int
    oldest_pending_age_seconds: float | None


class MinuteOut(BaseModel):
    """One minute of processing: events processed and batches, by every worker (from the
    store); batch durations measured by this server's own worker, null without one."""

    minute: datetime
    processed: int
    batches: int
    median_ms: float | None
    p95_ms: float | None


class NudgeTypeOut(BaseModel):
    """One nudge type's funnel over the period."""

    nudge_type: str
    detected: int
    exposed: int = Field(description="nudges displayed at least once")
    converted: int = Field(description="the user acted in the target after a display")
    organic: int = Field(description="the user acted in the target without a display first")


class EventErrorOut(BaseModel):
    """An event whose processing failed, with the error it keeps."""

    event_id: int
    event_type: str
    app_source: str
    status: str
    attempts: int
    error: str
    received_at: datetime


class EcosystemPanelOut(BaseModel):
    """Events and users over the period."""

    period_days: int
    total_events: int
    unique_users: int
    cross_app_users: int
    events_by_app: dict[str, int]
    events_by_type: dict[str, int]
    users_by_app: dict[str, int]


class DashboardOut(BaseModel):
    """Everything the dashboard shows; queue history and throughput cover the last hour."""

    queue: QueueStatusOut
    queue_history: list[QueueSampleOut]
    throughput: list[MinuteOut]
    ecosystem: EcosystemPanelOut
    nudges: list[NudgeTypeOut]
    errors: list[EventErrorOut]
    insights: dict[str, int] = Field(
        default_factory=dict, description="insights raised over the period, per kind"
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def dashboard_out(figures: DashboardFigures) -> DashboardOut:
    eco = figures.ecosystem
    return DashboardOut(
        queue=QueueStatusOut(
            pending=figures.queue.pending,
            processing=figures.queue.processing,
            processed=figures.queue.processed,
            duplicates=figures.queue.duplicates,
            failed=figures.queue.failed,
            dead=figures.queue.dead,
            oldest_pending_age_seconds=figures.queue.oldest_pending_age_seconds,
        ),
        queue_history=[
            QueueSampleOut(
                at=sample.at,
                pending=sample.pending,
                processing=sample.processing,
                failed=sample.failed,
                dead=sample.dead,
                oldest_pending_age_seconds=sample.oldest_pending_age_seconds,
            )
            for sample in figures.queue_history
        ],
        throughput=[
            MinuteOut(
                minute=minute.minute,
                processed=minute.processed,
                batches=minute.batches,
                median_ms=_ms(minute.median_seconds),
                p95_ms=_ms(minute.p95_seconds),
            )
            for minute in figures.throughput
        ],
        ecosystem=EcosystemPanelOut(
            period_days=eco.period_days,
            total_events=eco.total_events,
            unique_users=eco.unique_users,
            cross_app_users=eco.cross_app_users,
            events_by_app=dict(eco.events_by_app),
            events_by_type=dict(eco.events_by_type),
            users_by_app=dict(figures.users_by_app),
        ),
        nudges=[
            NudgeTypeOut(
                nudge_type=row.nudge_type,
                detected=row.detected,
                exposed=row.exposed,
                converted=row.converted,
                organic=row.organic,
            )
            for row in figures.nudges
        ],
        errors=[
            EventErrorOut(
                event_id=error.event_id,
                event_type=error.event_type,
                app_source=error.app_source,
                status=error.status,
                attempts=error.attempts,
                error=error.error,
                received_at=error.received_at,
            )
            for error in figures.errors
        ],
        insights=dict(figures.insights_by_kind),
    )
