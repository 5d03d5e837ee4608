"""The applied-events check (``SqlAlchemyAppliedEvents``) on PostgreSQL.

The batch's (user, hash) pairs go as two arrays in pair order, unnested side by side into
rows and joined on the table's key: one index probe per pair, so the check costs the same
at a million applied pairs as at none. Two separate ``= ANY`` lists cannot use the key as
pairs: the planner either scans the table or probes every user with every hash, and the
scan grows with the history.

The statement is one text whatever the batch's size, run as the driver's SQL with the
arrays in binary: SQLAlchemy's compiled form of the same query recomputed its cache key
for every batch, and psycopg's text dumper quotes every element of an array in Python;
together they cost about twice the query itself in the worker (5 against 2.8 µs per pair).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from src.adapters.sql.tables import applied_events
from src.application.ports.journeys import AppliedEvent

_APPLIED = (
    "SELECT a.user_id, a.event_hash"  # noqa: S608 - names from sql.tables
    " FROM unnest(%(users)b::text[], %(hashes)b::text[]) AS pairs(user_id, event_hash)"
    f" JOIN {applied_events.fullname} AS a"
    " ON a.user_id = pairs.user_id AND a.event_hash = pairs.event_hash"
)
"""The stored pairs among the batch's: the pairs as rows, joined on the table's key."""


class PostgresAppliedEventsStatements:
    """PostgreSQL's query of the pairs applied already."""

    def applied(
        self, connection: Connection, events: Collection[AppliedEvent]
    ) -> Iterable[Sequence[Any]]:
        """Exactly the stored pairs among ``events``."""
        pairs = sorted(set(events))
        return connection.exec_driver_sql(
            _APPLIED,
            {
                "users": [pair.user_id for pair in pairs],
                "hashes": [pair.event_hash for pair in pairs],
            },
        )
