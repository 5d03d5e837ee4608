"""The inbox's statements (``SqlAlchemyEventInbox``) on SQLite.

What this store does its own way: the insert skips twins through ``ON CONFLICT DO
NOTHING``, the claim needs no turn (``BEGIN IMMEDIATE`` serialises writers), timestamps
come back as the stored text, a batch's hashes are a look-up then one update, and a
batch's outcome is written row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    ScalarSelect,
    Text,
    case,
    null,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.sqlite import insert

from src.adapters.sql.batch_writes import outcome_writes
from src.adapters.sql.lease_fence import Fence, hold_sqlite
from src.adapters.sql.tables import events
from src.adapters.sqlite.batch_sql import write_rows
from src.application.ports.inbox import BatchOutcome

# New events; a row whose hash is stored already is skipped, and the hashes stored come
# back.
_INSERT_NEW_EVENTS = (
    insert(events)
    .on_conflict_do_nothing(index_elements=["event_hash"])
    .returning(events.c.event_hash)
)


def parse_timestamp(value: Any) -> datetime:
    """What SQLite stores for ``UtcDateTime``: naive UTC text, ``2026-01-01 09:00:00.000000``."""
    if not isinstance(value, str):
        raise TypeError(f"not a text timestamp: {value!r}")
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class SqliteInboxStatements:
    """SQLite's share of the inbox; the adapter runs these in its transactions."""

    # Claims take turns already: ``BEGIN IMMEDIATE`` gives one writer the database at a time.
    claim_takes_turns = False

    def __init__(self) -> None:
        # The claim hands the stored text back as is, parsed row by row by the adapter.
        self.parse_timestamp = parse_timestamp

    def insert_new_events(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> CursorResult[Any]:
        """The rows as one executemany; the hashes stored come back."""
        return connection.execute(_INSERT_NEW_EVENTS, list(rows))

    def begin_claim(self, connection: Connection, *, take_turn: bool) -> None:
        """Nothing to set: the transaction holds the write lock from its start."""

    def claimed_ids(self, claimable: ScalarSelect[Any]) -> ColumnElement[bool]:
        """``id IN (subquery)``."""
        return events.c.id.in_(claimable)

    def timestamp_columns(self) -> tuple[Any, Any]:
        """The stored text, parsed by the adapter (``parse_timestamp``); no second column."""
        return (type_coerce(events.c.timestamp, Text), null())

    def assign_hashes(self, connection: Connection, hashes: Mapping[int, str]) -> set[int]:
        """The hashes stored already looked up, then one update of the rest: the first of
        a batch's twins keeps the hash. The ids refused come back."""
        taken = set(
            connection.execute(
                select(events.c.event_hash).where(events.c.event_hash.in_(set(hashes.values())))
            ).scalars()
        )
        refused: set[int] = set()
        winners: dict[int, str] = {}
        for event_id, event_hash in sorted(hashes.items()):  # the first of twins keeps the hash
            if event_hash in taken:
                refused.add(event_id)
            else:
                taken.add(event_hash)
                winners[event_id] = event_hash
        if winners:
            connection.execute(
                update(events)
                .where(events.c.id.in_(list(winners)))
                .values(event_hash=case(winners, value=events.c.id))
            )
        return refused

    def write_outcome(
        self, connection: Connection, outcome: BatchOutcome, fence: Fence | None
    ) -> None:
        """The batch's fencing token first, then its marks, as the journeys' recorder
        writes them in a batch's own commit."""
        if fence is not None:
            hold_sqlite(lambda sql, params: connection.exec_driver_sql(sql, params).all(), fence)
        write_rows(connection.execute, outcome_writes(outcome))
