"""``RetentionStore`` on SQLAlchemy: old finished rows out of ``phoenix_events``.

One batch per transaction, decided by the store's statements object: on PostgreSQL the
SQL function ``phoenix_private.phoenix_prune_events`` (``src.adapters.postgres.retention``),
on SQLite the same rule in Python (``src.adapters.sqlite.retention``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Engine, TextClause

from src.adapters.postgres.retention import PostgresRetentionStatements
from src.adapters.sql.statements import for_store
from src.adapters.sqlite.retention import SqliteRetentionStatements
from src.application.retention import PruneBatch


class RetentionStatements(Protocol):
    """One store's pruning, and the reclaiming of what it leaves (if the store needs it)."""

    @property
    def dead_rows(self) -> TextClause | None:
        """The count of dead row versions; ``None``: the store has nothing to reclaim."""

    @property
    def vacuum(self) -> str:
        """What reclaims them, run outside a transaction."""

    def prune_batch(
        self, connection: Connection, retention_days: int, now: datetime, after_id: int, limit: int
    ) -> PruneBatch:
        """Delete one batch in ``connection``'s transaction."""


class SqlAlchemyRetentionStore:
    def __init__(self, engine: Engine, statements: RetentionStatements | None = None) -> None:
        self._engine = engine
        if statements is None:
            statements = for_store(
                engine, postgres=PostgresRetentionStatements, sqlite=SqliteRetentionStatements
            )
        self._statements: RetentionStatements = statements

    def prune_batch(
        self, retention_days: int, now: datetime, after_id: int, limit: int
    ) -> PruneBatch:
        # SQLite: BEGIN IMMEDIATE, the write lock at once.
        with self._engine.begin() as connection:
            return self._statements.prune_batch(connection, retention_days, now, after_id, limit)

    def reclaim_dead_rows(self, min_dead_rows: int) -> bool:
        """PostgreSQL: ``VACUUM (SKIP_LOCKED) phoenix_events`` when its statistics count
        ``min_dead_rows`` dead row versions; no ANALYZE (the claim's plan does not depend
        on statistics). SQLite deletes in place: nothing to reclaim."""
        dead_rows = self._statements.dead_rows
        if dead_rows is None:
            return False
        with self._engine.connect() as connection:
            dead = connection.execute(dead_rows).scalar()
            connection.rollback()
            if dead is None or int(dead) < min_dead_rows:
                return False
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql(self._statements.vacuum)
        return True
