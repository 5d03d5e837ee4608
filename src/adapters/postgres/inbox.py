"""The inbox's statements (``SqlAlchemyEventInbox``) on PostgreSQL.

What this store does its own way: the insert of new events as one JSON parameter
(``event_insert``), the claim's transaction settings and turn, the claimed ids looked up
by primary key, timestamps beyond Python's range read as text, a batch's hashes assigned
by one array statement, and a batch's outcome written as array statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    ScalarSelect,
    Text,
    and_,
    any_,
    case,
    cast,
    func,
    null,
)

from src.adapters.postgres import event_insert
from src.adapters.postgres.batch_sql import ASYNC_COMMIT, CLAIM_TURN, write_rows
from src.adapters.sql.batch_writes import outcome_writes
from src.adapters.sql.lease_fence import Fence, hold_postgres
from src.adapters.sql.tables import events
from src.application.ports.inbox import BatchOutcome
from src.domain.events import FIRST_READABLE, LAST_READABLE

CLAIM_PLAN = "SET LOCAL enable_bitmapscan = off"
"""For the claim's transaction: its index lookups walk the index, never build a bitmap.

Every event a batch finishes leaves a dead entry in the partial indexes of rows in hand
(``status = 'processing'``) until the table is vacuumed, which may be a minute away on
Supabase and never on a server without autovacuum. A bitmap scan visits the heap page of
every such entry, on every claim, and never marks them dead: the claim's lookup of the
users in hand grew with the events drained (docs/benchmarks.md). A plain index scan marks
the dead entries it meets, so each is visited once. A plan choice that does not depend on
the table's statistics, which are as stale as its vacuum: an ANALYZE would not help.
"""

_ASSIGN_HASHES = (
    "WITH given AS ("  # noqa: S608 - names from sql.tables
    " SELECT DISTINCT ON (g.event_hash) g.id, g.event_hash"
    " FROM unnest(%(ids)b::bigint[], %(hashes)b::text[]) AS g(id, event_hash)"
    f" WHERE NOT EXISTS (SELECT 1 FROM {events.name} AS t WHERE t.event_hash = g.event_hash)"
    " ORDER BY g.event_hash, g.id)"
    f" UPDATE {events.name} AS e SET event_hash = given.event_hash"
    " FROM given WHERE e.id = given.id"
    " RETURNING e.id"
)
"""The rows that take their hash: not stored yet, and the first of the batch's twins."""


class PostgresInboxStatements:
    """PostgreSQL's share of the inbox; the adapter runs these in its transactions."""

    # The claim first asks for its turn (``CLAIM_TURN``, an advisory lock), and gives up
    # waiting for it after a second (``TURN_NOT_GRANTED``).
    claim_takes_turns = True
    # The claim's rows come back typed by the driver: no text to parse.
    parse_timestamp = None

    def insert_new_events(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> CursorResult[Any]:
        """The rows in one statement of the same text for any count; the hashes stored
        come back (a twin of a stored hash is skipped)."""
        return connection.execute(event_insert.INSERT_NEW_EVENTS, event_insert.parameters(rows))

    def begin_claim(self, connection: Connection, *, take_turn: bool) -> None:
        """The claim's transaction: a commit that need not wait for the WAL, index scans
        only (``CLAIM_PLAN``), and the claims' turn when asked for."""
        settings = f"{ASYNC_COMMIT}; {CLAIM_PLAN}"
        connection.exec_driver_sql(f"{settings}; {CLAIM_TURN}" if take_turn else settings)

    def claimed_ids(self, claimable: ScalarSelect[Any]) -> ColumnElement[bool]:
        """``id = ANY(ARRAY(subquery))``: PostgreSQL looks the claimed ids up by primary
        key; ``id IN (subquery)`` gets planned as a hash join over a scan of the whole
        table, which makes a large backlog drain in quadratic time."""
        return events.c.id == any_(func.array(claimable))

    def timestamp_columns(self) -> tuple[Any, Any]:
        """The timestamp as a value when Python can hold it, else as text: the driver
        would raise for the whole claim on a single out-of-range timestamp."""
        timestamp = events.c.timestamp
        readable = and_(timestamp >= FIRST_READABLE, timestamp < LAST_READABLE)
        return (
            case((readable, timestamp), else_=null()),
            case((readable, null()), else_=cast(timestamp, Text)),
        )

    def assign_hashes(self, connection: Connection, hashes: Mapping[int, str]) -> set[int]:
        """One statement for the batch (``_ASSIGN_HASHES``), committed asynchronously; the
        ids refused come back."""
        connection.exec_driver_sql(ASYNC_COMMIT)
        ids = list(hashes)
        assigned = connection.exec_driver_sql(
            _ASSIGN_HASHES, {"ids": ids, "hashes": [hashes[event_id] for event_id in ids]}
        ).scalars()
        return set(ids).difference(assigned)

    def write_outcome(
        self, connection: Connection, outcome: BatchOutcome, fence: Fence | None
    ) -> None:
        """The batch's fencing token first, then its marks, as the journeys' recorder
        writes them in a batch's own commit."""
        if fence is not None:
            hold_postgres(connection.exec_driver_sql, fence)
        connection.exec_driver_sql(ASYNC_COMMIT)
        write_rows(connection.exec_driver_sql, outcome_writes(outcome))
