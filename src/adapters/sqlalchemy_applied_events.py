"""``AppliedEvents`` on SQLAlchemy Core, the same query on SQLite and PostgreSQL.

The rows are written by the journeys' recorders, in the commit that saves the journeys
(``applied_writes`` in ``batch_writes``); this reads them.
One query for a whole batch: the key is (user, hash), so both lists narrow the index scan,
and the few rows of a user matched by another's hash are dropped here.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, select

from src.adapters.sql_database import read_connection
from src.adapters.sql_tables import applied_events
from src.application.ports import AppliedEvent


class SqlAlchemyAppliedEvents:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def already_applied(self, events: Collection[AppliedEvent]) -> set[AppliedEvent]:
        if not events:
            return set()
        query = select(applied_events.c.user_id, applied_events.c.event_hash).where(
            applied_events.c.user_id.in_(sorted({event.user_id for event in events})),
            applied_events.c.event_hash.in_(sorted({event.event_hash for event in events})),
        )
        with read_connection(self._engine) as connection:
            found = {
                AppliedEvent(str(user), str(hashed)) for user, hashed in connection.execute(query)
            }
        return found & set(events)
