"""The applied-events check (``SqlAlchemyAppliedEvents``) on SQLite.

SQLite has no arrays: two ``IN`` lists on its small files, and the few rows of a user
matched by another's hash are dropped by the adapter.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from src.adapters.sql.tables import applied_events
from src.application.ports.journeys import AppliedEvent


class SqliteAppliedEventsStatements:
    """SQLite's query of the pairs applied already."""

    def applied(
        self, connection: Connection, events: Collection[AppliedEvent]
    ) -> Iterable[Sequence[Any]]:
        """The stored pairs of the batch's users and hashes: a superset of the answer."""
        return connection.execute(
            select(applied_events.c.user_id, applied_events.c.event_hash).where(
                applied_events.c.user_id.in_({event.user_id for event in events}),
                applied_events.c.event_hash.in_({event.event_hash for event in events}),
            )
        )
