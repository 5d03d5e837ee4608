"""``/api/events``: ingest, queue status, drain now, force reprocess."""

from __future__ import annotations

from dataclasses import asdict

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from src.application.admin import QueueAdmin
from src.application.ports.inbox import RequeueSelection
from src.application.queries import FlywheelQueries
from src.entrypoints.http.body_check import json_object_body
from src.entrypoints.http.errors import error_responses
from src.entrypoints.http.schemas import (
    DrainOut,
    IngestIn,
    IngestOut,
    QueueStatusOut,
    ReprocessIn,
    ReprocessOut,
)
from src.entrypoints.http.server_runtime import ServerRuntime

SINGLE_EVENT_FIELDS = frozenset(
    {"event_type", "app_source", "user_id", "payload", "timestamp", "idempotency_key"}
)


class EventsController(Controller):
    path = "/api/events"
    tags = ("events",)

    @post(
        status_code=HTTP_202_ACCEPTED,
        before_request=json_object_body('one event, or {"events": [...]}'),
        responses=error_responses(400, 401, 413, 503),
        description='Publish one event, or a batch of at most 1,000 (`{"events": [...]}`). '
        "Every event is checked before any is written; an event whose hash is already "
        "stored counts as a duplicate.",
    )
    async def ingest(
        self, data: JSONBody[IngestIn], runtime: NamedDependency[ServerRuntime]
    ) -> IngestOut:
        # One dependency: Litestar resolves several in a task group, a task for each.
        ingestion = (await runtime.open_container_async()).ingestion()
        if data.events is not None:
            raw = [event.model_dump() for event in data.events]
        else:
            raw = [data.model_dump(include=set(SINGLE_EVENT_FIELDS))]
        # Written with the events of the requests that arrive meanwhile, each request
        # answered once its commit is done.
        result = await ingestion.ingest(
            raw,
            batch=data.events is not None,
            commit=runtime.group_commit.append,
            wake=runtime.wake_worker,
        )
        return IngestOut(accepted=result.accepted, duplicates=result.duplicates)

    @get(
        "/queue-status",
        sync_to_thread=True,
        description="Counts of events by status.",
        responses=error_responses(401, 503),
    )
    def queue_status(self, queries: NamedDependency[FlywheelQueries]) -> QueueStatusOut:
        return QueueStatusOut(**asdict(queries.get_queue_status()))

    @post(
        "/process-queue",
        status_code=HTTP_200_OK,
        sync_to_thread=True,
        responses=error_responses(401, 503),
        description="Drain the queue now and answer with what was done. Safe while the "
        "background worker drains too: each claims different events.",
    )
    def process_queue(self, runtime: NamedDependency[ServerRuntime]) -> DrainOut:
        # Runs in a worker thread with an event loop of its own: the server keeps answering.
        summary = runtime.drain_now()
        return DrainOut(
            processed=summary.processed,
            duplicates=summary.duplicates,
            failed=summary.failed,
            dead=summary.dead,
            duration_ms=round(summary.duration_ms, 1),
        )

    @post(
        "/force-reprocess",
        status_code=HTTP_200_OK,
        sync_to_thread=True,
        before_request=json_object_body('{"event_ids": [...]}, {"since": ...} or {"status": ...}'),
        responses=error_responses(400, 401, 413, 503),
        description="Put events back in the queue: exactly one of `event_ids`, `since` or "
        "`status`. A replay never double-counts in journeys, nudges or figures.",
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
