"""Retention's statements (``SqlAlchemyRetentionStore``) on SQLite.

The same rule as PostgreSQL's function, from ``src.application.retention``'s constants,
as one ``DELETE … WHERE id IN (SELECT … LIMIT n)`` per transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Select, TextClause, delete, exists, or_, select

from src.adapters.sql.tables import events
from src.application.retention import PRUNED_STATUSES, PruneBatch, cutoff


def _chosen(retention_days: int, now: datetime, after_id: int, limit: int) -> Select[int]:
    """The ids of the next batch: finished rows older than the cutoff, each a duplicate or
    followed by a processed row of the same user and app, in id order."""
    before = cutoff(now, retention_days)
    newer = events.alias("newer")
    return (
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


class SqliteRetentionStatements:
    """SQLite's pruning; it deletes in place, so there is nothing to reclaim."""

    dead_rows: TextClause | None = None
    vacuum: str = ""

    def prune_batch(
        self, connection: Connection, retention_days: int, now: datetime, after_id: int, limit: int
    ) -> PruneBatch:
        """The batch's ids read, then deleted, in the caller's transaction."""
        ids = list(connection.execute(_chosen(retention_days, now, after_id, limit)).scalars())
        if ids:
            connection.execute(delete(events).where(events.c.id.in_(ids)))
        return PruneBatch(deleted=len(ids), last_id=max(ids) if ids else None)
