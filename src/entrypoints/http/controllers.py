"""One controller per resource; each handler calls one application method. No rules here."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_503_SERVICE_UNAVAILABLE

from src.application.ports import RequeueSelection
from src.application.processor import EventQueueProcessor
from src.application.services import EventIngestion, FlywheelQueries, QueueAdmin
from src.entrypoints.http.schemas import (
    DrainOut,
    EcosystemOut,
    HealthOut,
    IngestIn,
    IngestOut,
    JourneyEventOut,
    JourneyNudgeOut,
    JourneyOut,
    NudgeFigures,
    NudgeOut,
    QueueStatusOut,
    ReprocessIn,
    ReprocessOut,
    ShownOut,
)
from src.entrypoints.http.server_runtime import ServerRuntime

VERSION = "0.1.0"
SINGLE_EVENT_FIELDS = (
    "event_type",
    "app_source",
    "user_id",
    "payload",
    "timestamp",
    "idempotency_key",
)


class HealthController(Controller):
    path = "/health"
    tags = ("monitoring",)

    @get(sync_to_thread=True, description="Is the store answering, is the worker running?")
    def health(self, runtime: NamedDependency[ServerRuntime]) -> Response[HealthOut]:
        problem = runtime.database_problem()
        body = HealthOut(
            status="ok" if problem is None else "degraded",
            database="ok" if problem is None else problem,
            worker="running" if runtime.worker_running else "stopped",
            version=VERSION,
        )
        return Response(body, status_code=200 if problem is None else HTTP_503_SERVICE_UNAVAILABLE)


class EventsController(Controller):
    path = "/api/events"
    tags = ("events",)

    @post(status_code=HTTP_202_ACCEPTED, sync_to_thread=True, description="Publish events.")
    def ingest(
        self,
        data: JSONBody[IngestIn],
        ingestion: NamedDependency[EventIngestion],
        runtime: NamedDependency[ServerRuntime],
    ) -> IngestOut:
        if data.events is not None:
            raw = [event.model_dump() for event in data.events]
        else:
            raw = [data.model_dump(include=set(SINGLE_EVENT_FIELDS))]
        result = ingestion.publish(raw, batch=data.events is not None)
        if result.accepted:
            runtime.wake_worker()
        return IngestOut(accepted=result.accepted, duplicates=result.duplicates)

    @get("/queue-status", sync_to_thread=True, description="Counts of events by status.")
    def queue_status(self, queries: NamedDependency[FlywheelQueries]) -> QueueStatusOut:
        return QueueStatusOut(**asdict(queries.get_queue_status()))

    @post("/process-queue", status_code=200, sync_to_thread=True, description="Drain now.")
    def process_queue(self, processor: NamedDependency[EventQueueProcessor]) -> DrainOut:
        summary = asyncio.run(processor.drain())
        return DrainOut(
            processed=summary.processed,
            duplicates=summary.duplicates,
            failed=summary.failed,
            dead=summary.dead,
            duration_ms=round(summary.duration_ms, 1),
        )

    @post(
        "/force-reprocess",
        status_code=200,
        sync_to_thread=True,
        description="Put events back in the queue; replays never double-count.",
    )
    def force_reprocess(
        self,
        data: JSONBody[ReprocessIn],
        admin: NamedDependency[QueueAdmin],
        runtime: NamedDependency[ServerRuntime],
    ) -> ReprocessOut:
        requeued = admin.force_reprocess(
            RequeueSelection(
                event_ids=tuple(data.event_ids) if data.event_ids is not None else None,
                since=data.since,
                status=data.status,
            )
        )
        if requeued:
            runtime.wake_worker()
        return ReprocessOut(requeued=requeued)


class AnalyticsController(Controller):
    path = "/api/analytics"
    tags = ("analytics",)

    @get("/ecosystem", sync_to_thread=True, description="Figures over the last `days` days.")
    def ecosystem(
        self,
        queries: NamedDependency[FlywheelQueries],
        days: Annotated[int, QueryParameter(description="1 to 3650")] = 30,
    ) -> EcosystemOut:
        figures = queries.get_ecosystem(days)
        return EcosystemOut(
            period_days=figures.period_days,
            total_events=figures.total_events,
            unique_users=figures.unique_users,
            cross_app_users=figures.cross_app_users,
            events_by_app=dict(figures.events_by_app),
            events_by_type=dict(figures.events_by_type),
            nudges=NudgeFigures(
                detected=figures.nudges_detected,
                shown=figures.nudges_shown,
                converted=figures.nudges_converted,
            ),
        )


class UsersController(Controller):
    path = "/api/users/{user_id:str}"
    tags = ("users",)

    @get("/journey", sync_to_thread=True, description="What the user did, and their nudges.")
    def journey(
        self, user_id: FromPath[str], queries: NamedDependency[FlywheelQueries]
    ) -> JourneyOut:
        journey = queries.get_journey(user_id)
        return JourneyOut(
            user_id=journey.user_id,
            apps=list(journey.apps),
            events=[
                JourneyEventOut(
                    event_type=e.event_type, app_source=e.app_source, timestamp=e.timestamp
                )
                for e in journey.events
            ],
            nudges=[
                JourneyNudgeOut(
                    nudge_id=n.nudge_id,
                    nudge_type=n.nudge_type,
                    target_app=n.target_app,
                    status="converted" if n.status == "converted" else "active",
                    detected_at=n.detected_at,
                    converted_at=n.converted_at,
                )
                for n in journey.nudges
            ],
        )

    @get("/nudges", sync_to_thread=True, description="The nudges to show now in `app`.")
    def nudges(
        self,
        user_id: FromPath[str],
        queries: NamedDependency[FlywheelQueries],
        app: Annotated[str, QueryParameter(description="where it is shown: phoenix-letters")],
        lang: Annotated[str, QueryParameter(description="fr or en")] = "fr",
    ) -> list[NudgeOut]:
        return [NudgeOut(**asdict(n)) for n in queries.list_active_nudges(user_id, app, lang)]


class NudgesController(Controller):
    path = "/api/nudges/{nudge_id:str}"
    tags = ("nudges",)

    @post("/shown", status_code=200, sync_to_thread=True, description="Record a display.")
    def shown(self, nudge_id: FromPath[str], queries: NamedDependency[FlywheelQueries]) -> ShownOut:
        return ShownOut(nudge_id=nudge_id, shown_at=queries.record_nudge_shown(nudge_id))
