"""``ScalingSignalSource`` on SQLite: the counts the SQL function makes, and the rule of
``src.application.scaling`` applied to them in Python."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, distinct, func, select

from src.adapters.sql.database import read_connection
from src.adapters.sql.tables import events, worker_settings
from src.application.scaling import (
    DEFAULT_BATCH_SIZE,
    UNFINISHED_STATUSES,
    ScalingSignal,
    scaling_signal,
)


class SqliteScalingSignal:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def scaling_signal(self, now: datetime) -> ScalingSignal:
        with read_connection(self._engine) as connection:
            claimable, users = connection.execute(
                select(func.count(), func.count(distinct(events.c.user_id))).where(
                    events.c.status.in_(UNFINISHED_STATUSES)
                )
            ).one()
            oldest = connection.execute(
                select(events.c.received_at)
                .where(events.c.status == "pending")
                .order_by(events.c.id)
                .limit(1)
            ).scalar()
            batch_size = connection.execute(
                select(worker_settings.c.batch_size).where(worker_settings.c.id == 1)
            ).scalar()
        return scaling_signal(
            int(claimable), int(users), int(batch_size or DEFAULT_BATCH_SIZE), oldest, now
        )
