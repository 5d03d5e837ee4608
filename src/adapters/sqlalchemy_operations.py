"""``OperationsReadModel`` on SQLAlchemy: the same statements on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Engine, and_, case, distinct, func, or_, select

from src.adapters.sql_database import read_connection
from src.adapters.sql_tables import events, journey_entries, nudges, nudges_sent
from src.application.monitoring import EventError, NudgeTypeFigures


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

    def nudge_funnel(self, since: datetime) -> Sequence[NudgeTypeFigures]:
        first_shown = (
            select(nudges_sent.c.nudge_id, func.min(nudges_sent.c.shown_at).label("first"))
            .group_by(nudges_sent.c.nudge_id)
            .subquery()
        )
        converted = nudges.c.status == "converted"
        after_exposure = and_(
            converted,
            first_shown.c.first.is_not(None),
            first_shown.c.first <= nudges.c.converted_at,
        )
        without_exposure = and_(
            converted,
            or_(first_shown.c.first.is_(None), first_shown.c.first > nudges.c.converted_at),
        )
        with read_connection(self._engine) as connection:
            rows = connection.execute(
                select(
                    nudges.c.nudge_type,
                    func.count(),
                    func.count(first_shown.c.first),
                    func.sum(case((after_exposure, 1), else_=0)),
                    func.sum(case((without_exposure, 1), else_=0)),
                )
                .select_from(
                    nudges.outerjoin(first_shown, first_shown.c.nudge_id == nudges.c.nudge_id)
                )
                .where(nudges.c.detected_at >= since)
                .group_by(nudges.c.nudge_type)
                .order_by(nudges.c.nudge_type)
            ).all()
        return [
            NudgeTypeFigures(
                nudge_type=str(kind),
                detected=int(detected),
                exposed=int(exposed),
                converted=int(after or 0),
                organic=int(organic or 0),
            )
            for kind, detected, exposed, after, organic in rows
        ]

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
