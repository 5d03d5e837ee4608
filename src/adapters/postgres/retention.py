"""Retention's statements (``SqlAlchemyRetentionStore``) on PostgreSQL.

The SQL function ``phoenix_private.phoenix_prune_events`` decides and deletes: the
rule's one home on this store, callable from the SQL editor or ``pg_cron`` alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, TextClause, text

from src.adapters.sql.tables import events
from src.application.retention import PruneBatch

# One batch of old finished rows, chosen and deleted by the schema's function.
_PRUNE = text(
    "SELECT deleted, last_id FROM phoenix_private.phoenix_prune_events(:days, :after, :limit)"
)


class PostgresRetentionStatements:
    """PostgreSQL's pruning, and the reclaiming of the space it leaves."""

    # The dead row versions the statistics count in the inbox.
    dead_rows: TextClause | None = text(
        "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = to_regclass('phoenix_events')"
    )
    # Reclaims them without waiting for a lock; no ANALYZE (the claim's plan does not
    # depend on statistics). Run outside a transaction.
    vacuum: str = f"VACUUM (SKIP_LOCKED) {events.name}"

    def prune_batch(
        self, connection: Connection, retention_days: int, now: datetime, after_id: int, limit: int
    ) -> PruneBatch:
        """One call of the function; ``now`` is the server's own there."""
        row = connection.execute(
            _PRUNE, {"days": retention_days, "after": after_id, "limit": limit}
        ).one()
        return PruneBatch(deleted=int(row.deleted), last_id=row.last_id)
