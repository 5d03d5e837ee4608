"""``RetentionStore`` on SQLAlchemy: old finished rows out of ``phoenix_events``.

PostgreSQL: the SQL function ``phoenix_private.phoenix_prune_events`` decides and deletes
(the rule's one home there, callable from the SQL editor or ``pg_cron`` alike), one batch
per transaction. SQLite: the same rule here, from ``src.application.retention``'s
constants, as one ``DELETE … WHERE id IN (SELECT … LIMIT n)`` per transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete, exists, or_, select, text

from src.adapters.sql.tables import events
from src.application.retention import PRUNED_STATUSES, PruneBatch, cutoff

_DEAD_ROWS = text(
    "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = to_regclass('phoenix_events')"
)
_PRUNE_POSTGRES = text(
    "SELECT deleted, last_id FROM phoenix_private.phoenix_prune_events(:days, :after, :limit)"
)


class SqlAlchemyRetentionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def prune_batch(
        self, retention_days: int, now: datetime, after_id: int, limit: int
    ) -> PruneBatch:
        if self._postgres:
            with self._engine.begin() as connection:
                row = connection.execute(
                    _PRUNE_POSTGRES, {"days": retention_days, "after": after_id, "limit": limit}
                ).one()
            return PruneBatch(deleted=int(row.deleted), last_id=row.last_id)
        before = cutoff(now, retention_days)
        newer = events.alias("newer")
        chosen = (
            select(events.c.id)
            .where(
                events.c.id > after_id,
                events.c.status.in_(PRUNED_STATUSES),
                or_(
                    events.c.processed_at < before,
                    events.c.processed_at.is_(None) & (events.c.received_at < before),
                ),
                or_(
                    events.c.status == "duplicate",
                    exists().where(
                        newer.c.user_id == events.c.user_id,
                        newer.c.app_source == events.c.app_source,
                        newer.c.status == "processed",
                        newer.c.id > events.c.id,
                    ),
                ),
            )
            .order_by(events.c.id)
            .limit(limit)
        )
        with self._engine.begin() as connection:  # BEGIN IMMEDIATE: the write lock at once
            ids = list(connection.execute(chosen).scalars())
            if ids:
                connection.execute(delete(events).where(events.c.id.in_(ids)))
        return PruneBatch(deleted=len(ids), last_id=max(ids) if ids else None)

    def reclaim_dead_rows(self, min_dead_rows: int) -> bool:
        """PostgreSQL: ``VACUUM (SKIP_LOCKED) phoenix_events`` when its statistics count
        ``min_dead_rows`` dead row versions; no ANALYZE (the claim's plan does not depend
        on statistics). SQLite deletes in place: nothing to reclaim."""
        if not self._postgres:
            return False
        with self._engine.connect() as connection:
            dead = connection.execute(_DEAD_ROWS).scalar()
            connection.rollback()
            if dead is None or int(dead) < min_dead_rows:
                return False
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql(f"VACUUM (SKIP_LOCKED) {events.name}")
        return True
