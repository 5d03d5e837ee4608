"""``AppliedEvents`` on SQLAlchemy Core, the same question on SQLite and PostgreSQL.

The rows are written by the journeys' recorders, in the commit that saves the journeys
(``applied_writes`` in ``batch_writes``); this reads them.
One query for a whole batch: the key is (user, hash), so both lists narrow the index scan,
and the few rows of a user matched by another's hash are dropped here.
On PostgreSQL the lists go as two array parameters (``= ANY``): one statement text
whatever the batch's size, so SQLAlchemy compiles it once and psycopg prepares it once,
where an ``IN`` list is expanded, rendered and planned anew for every batch.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, Text, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from src.adapters.sql_database import read_connection
from src.adapters.sql_tables import applied_events
from src.application.ports import AppliedEvent

_COLUMNS = (applied_events.c.user_id, applied_events.c.event_hash)
_BY_ARRAYS = select(*_COLUMNS).where(
    applied_events.c.user_id == any_(bindparam("users", type_=ARRAY(Text))),
    applied_events.c.event_hash == any_(bindparam("hashes", type_=ARRAY(Text))),
)


class SqlAlchemyAppliedEvents:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._arrays = engine.dialect.name == "postgresql"

    def already_applied(self, events: Collection[AppliedEvent]) -> set[AppliedEvent]:
        if not events:
            return set()
        users = sorted({event.user_id for event in events})
        hashes = sorted({event.event_hash for event in events})
        if self._arrays:
            query = _BY_ARRAYS.params(users=users, hashes=hashes)
        else:
            query = select(*_COLUMNS).where(
                applied_events.c.user_id.in_(users), applied_events.c.event_hash.in_(hashes)
            )
        with read_connection(self._engine) as connection:
            found = {AppliedEvent(str(row[0]), str(row[1])) for row in connection.execute(query)}
        return found & set(events)
