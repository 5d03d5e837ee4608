"""``OperationsReadModel`` on SQLAlchemy: the same statements on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, distinct, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement

from src.adapters.sql.database import read_connection
from src.adapters.sql.nudge_outcomes import nudge_outcomes
from src.adapters.sql.tables import events, insights, journey_entries
from src.application.monitoring import EventError, MinuteThroughput, NudgeTypeFigures


class minute_of(FunctionElement[Any]):  # noqa: N801 - reads as the SQL function it renders
    """A timestamp cut down to its minute, in each store's own words."""

    inherit_cache = True


@compiles(minute_of, "postgresql")
def _minute_of_postgresql(element: minute_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_trunc('minute', {compiler.process(element.clauses, **kw)})"


@compiles(minute_of, "sqlite")
def _minute_of_sqlite(element: minute_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H:%M:00', {compiler.process(element.clauses, **kw)})"


def _as_minute(value: datetime | str) -> datetime:
    """SQLite answers text, naive UTC; PostgreSQL an aware timestamp."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class SqlAlchemyOperationsReadModel:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def users_by_app(self, since: datetime) -> Mapping[str, int]:
        users = func.count(distinct(journey_entries.c.user_id))
        with read_connection(self._engine) as connection:
            rows = connection.execute(
                select(journey_entries.c.app_source, users)
                .where(journey_entries.c.timestamp >= since)
                .group_by(journey_entries.c.app_source)
                .order_by(journey_entries.c.app_source)
            ).all()
        return {str(app): int(users) for app, users in rows}

    def insights_by_kind(self, since: datetime) -> Mapping[str, int]:
        with read_connection(self._engine) as connection:
            rows = connection.execute(
                select(insights.c.kind, func.count())
                .where(insights.c.created_at >= since)
                .group_by(insights.c.kind)
                .order_by(insights.c.kind)
            ).all()
        return {str(kind): int(count) for kind, count in rows}

    def nudge_funnel(self, since: datetime) -> Sequence[NudgeTypeFigures]:
        """Per nudge type, the same exposure and attribution as the API and the experiments:
        one definition per store (``nudge_outcomes``), so the page and the figures never
        disagree."""
        with read_connection(self._engine) as connection:
            outcome = nudge_outcomes(self._engine)
            rows = connection.execute(
                select(
                    outcome.c.nudge_type,
                    func.count(),
                    func.sum(outcome.c.exposed),
                    func.sum(outcome.c.converted),
                    func.sum(outcome.c.organic),
                )
                .where(outcome.c.detected_at >= since)
                .group_by(outcome.c.nudge_type)
                .order_by(outcome.c.nudge_type)
            ).all()
        return [
            NudgeTypeFigures(
                nudge_type=str(kind),
                detected=int(detected),
                exposed=int(exposed or 0),
                converted=int(converted or 0),
                organic=int(organic or 0),
            )
            for kind, detected, exposed, converted, organic in rows
        ]

    def throughput(self, since: datetime) -> Sequence[MinuteThroughput]:
        """Every worker's work per minute, read from when each event was finished.

        ``locked_by`` keeps the name of the batch that finished an event, so the batches
        are counted too. An index on (``processed_at``, ``status``, ``locked_by``) answers
        it alone, however many rows the table keeps from before ``since``.
        """
        minute = minute_of(events.c.processed_at)
        with read_connection(self._engine) as connection:
            rows = connection.execute(
                select(minute, func.count(), func.count(distinct(events.c.locked_by)))
                .where(events.c.processed_at >= since, events.c.status == "processed")
                .group_by(minute)
                .order_by(minute)
            ).all()
        return [
            MinuteThroughput(
                minute=_as_minute(at),
                processed=int(processed),
                batches=int(batches),
                median_seconds=None,
                p95_seconds=None,
            )
            for at, processed, batches in rows
        ]

    def processed_since(self, since: datetime) -> int:
        """Events finished as processed since ``since``, by any worker."""
        with read_connection(self._engine) as connection:
            found = connection.execute(
                select(func.count()).where(
                    events.c.processed_at >= since, events.c.status == "processed"
                )
            ).scalar()
        return int(found or 0)

    def recent_errors(self, limit: int) -> Sequence[EventError]:
        with read_connection(self._engine) as connection:
            rows = connection.execute(
                select(
                    events.c.id,
                    events.c.event_type,
                    events.c.app_source,
                    events.c.status,
                    events.c.attempts,
                    events.c.ai_processing_error,
                    events.c.received_at,
                )
                .where(events.c.ai_processing_error.is_not(None))
                .order_by(events.c.id.desc())
                .limit(limit)
            ).all()
        return [
            EventError(
                event_id=int(row.id),
                event_type=str(row.event_type),
                app_source=str(row.app_source),
                status=str(row.status),
                attempts=int(row.attempts),
                error=str(row.ai_processing_error),
                received_at=row.received_at,
            )
            for row in rows
        ]
