"""The applied-events check (``SqlAlchemyAppliedEvents``) on PostgreSQL.

The batch's (user, hash) pairs go as two arrays in pair order, unnested side by side into
rows and joined on the table's key: one index probe per pair, so the check costs the same
at a million applied pairs as at none. Two separate ``= ANY`` lists cannot use the key as
pairs: the planner either scans the table or probes every user with every hash, and the
scan grows with the history. The arrays also keep one statement text whatever the
batch's size, so SQLAlchemy compiles it once and psycopg prepares it once, where an
``IN`` list is expanded, rendered and planned anew for every batch.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, Text, and_, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from src.adapters.sql.tables import applied_events
from src.application.ports.journeys import AppliedEvent

# The pairs as rows: two arrays unnested side by side.
_PAIRS = (
    func.unnest(bindparam("users", type_=ARRAY(Text)), bindparam("hashes", type_=ARRAY(Text)))
    .table_valued(column("user_id", Text), column("event_hash", Text))
    .render_derived(name="pairs")
)
# The stored pairs among them, joined on the table's key.
_BY_PAIRS = select(applied_events.c.user_id, applied_events.c.event_hash).select_from(
    _PAIRS.join(
        applied_events,
        and_(
            applied_events.c.user_id == _PAIRS.c.user_id,
            applied_events.c.event_hash == _PAIRS.c.event_hash,
        ),
    )
)


class PostgresAppliedEventsStatements:
    """PostgreSQL's query of the pairs applied already."""

    def applied(self, events: Collection[AppliedEvent]) -> Select[Any]:
        """Exactly the stored pairs among ``events``."""
        pairs = sorted(set(events))
        return _BY_PAIRS.params(
            users=[pair.user_id for pair in pairs],
            hashes=[pair.event_hash for pair in pairs],
        )
