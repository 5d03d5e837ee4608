"""``AppliedEvents`` on SQLAlchemy Core, the same question on SQLite and PostgreSQL.

The rows are written by the journeys' recorders, in the commit that saves the journeys
(``applied_writes`` in ``batch_writes``); this reads them.
One query for a whole batch. On PostgreSQL the batch's (user, hash) pairs go as two
arrays in pair order, unnested side by side into rows and joined on the table's key: one
index probe per pair, so the check costs the same at a million applied pairs as at none.
Two separate ``= ANY`` lists cannot use the key as pairs: the planner either scans the
table or probes every user with every hash, and the scan grows with the history. The
arrays also keep one statement text whatever the batch's size, so SQLAlchemy compiles it
once and psycopg prepares it once, where an ``IN`` list is expanded, rendered and planned
anew for every batch. SQLite has no arrays: it keeps two ``IN`` lists on its small files,
and the few rows of a user matched by another's hash are dropped here.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, Text, and_, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from src.adapters.sql.database import read_connection
from src.adapters.sql.tables import applied_events
from src.application.ports import AppliedEvent

_COLUMNS = (applied_events.c.user_id, applied_events.c.event_hash)
_PAIRS = (
    func.unnest(bindparam("users", type_=ARRAY(Text)), bindparam("hashes", type_=ARRAY(Text)))
    .table_valued(column("user_id", Text), column("event_hash", Text))
    .render_derived(name="pairs")
)
_BY_PAIRS = select(*_COLUMNS).select_from(
    _PAIRS.join(
        applied_events,
        and_(
            applied_events.c.user_id == _PAIRS.c.user_id,
            applied_events.c.event_hash == _PAIRS.c.event_hash,
        ),
    )
)


class SqlAlchemyAppliedEvents:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._arrays = engine.dialect.name == "postgresql"

    def already_applied(self, events: Collection[AppliedEvent]) -> set[AppliedEvent]:
        if not events:
            return set()
        if self._arrays:
            pairs = sorted(set(events))
            query = _BY_PAIRS.params(
                users=[pair.user_id for pair in pairs],
                hashes=[pair.event_hash for pair in pairs],
            )
        else:
            query = select(*_COLUMNS).where(
                applied_events.c.user_id.in_({event.user_id for event in events}),
                applied_events.c.event_hash.in_({event.event_hash for event in events}),
            )
        with read_connection(self._engine) as connection:
            found = {AppliedEvent(str(row[0]), str(row[1])) for row in connection.execute(query)}
        return found & set(events)
