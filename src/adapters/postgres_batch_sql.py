"""A batch's writes on PostgreSQL as a few array statements, for any psycopg executor.

The inbox (through SQLAlchemy's ``exec_driver_sql``) and the journey recorder (on its own
psycopg cursor, inside the transaction that saves the journeys) send the same statements,
so the batch outcome and the read-model rows can be written where it is cheapest.

Every row travels in column arrays zipped by ``unnest``: a statement per table instead of
one per row, and parameters in psycopg's binary format (``%(name)b``), because text-format
arrays are escaped element by element with regular expressions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from src.adapters.sql_tables import ERROR_LIMIT, applied_events, events, journey_entries, nudges
from src.application.ports import AppliedEvent, BatchOutcome, ReadModelChanges

Execute = Callable[[str, dict[str, Any]], object]
"""``cursor.execute`` or ``connection.exec_driver_sql``: psycopg placeholders either way."""

_MARK_FINISHED = (
    f"UPDATE {events.name} SET"  # noqa: S608 - names from sql_tables
    " status = CASE WHEN id = ANY(%(duplicates)b::bigint[]) THEN 'duplicate'"
    " ELSE 'processed' END,"
    " ai_processing_error = CASE WHEN id = ANY(%(duplicates)b::bigint[])"
    " THEN ai_processing_error END,"
    " processed_at = %(now)b::timestamptz, locked_until = NULL, locked_by = NULL"
    " WHERE id = ANY(%(finished)b::bigint[])"
)
_MARK_FAILED = (
    f"UPDATE {events.name} AS e SET status = f.status, locked_until = f.retry_at,"  # noqa: S608 - names from sql_tables
    " locked_by = NULL, ai_processing_error = f.error"
    " FROM unnest(%(id)b::bigint[], %(status)b::text[], %(retry_at)b::timestamptz[],"
    " %(error)b::text[]) AS f(id, status, retry_at, error)"
    " WHERE e.id = f.id"
)
_INSERT_ENTRIES = (
    f"INSERT INTO {journey_entries.name}"  # noqa: S608 - names from sql_tables
    " (user_id, event_hash, event_type, app_source, timestamp)"
    " SELECT * FROM unnest(%(user_id)b::text[], %(event_hash)b::text[],"
    " %(event_type)b::text[], %(app_source)b::text[], %(timestamp)b::timestamptz[])"
    " ON CONFLICT DO NOTHING"
)
_INSERT_NUDGES = (
    f"INSERT INTO {nudges.name}"  # noqa: S608 - names from sql_tables
    " (nudge_id, user_id, nudge_type, shown_in, target_app, status, detected_at, variant)"
    " SELECT * FROM unnest(%(nudge_id)b::text[], %(user_id)b::text[],"
    " %(nudge_type)b::text[], %(shown_in)b::text[], %(target_app)b::text[],"
    " %(status)b::text[], %(detected_at)b::timestamptz[], %(variant)b::text[])"
    " ON CONFLICT DO NOTHING"
)
_CONVERT_NUDGES = (
    f"UPDATE {nudges.name} AS n SET status = 'converted', converted_at = c.converted_at"  # noqa: S608 - names from sql_tables
    " FROM unnest(%(nudge_id)b::text[], %(converted_at)b::timestamptz[])"
    " AS c(nudge_id, converted_at)"
    " WHERE n.nudge_id = c.nudge_id"
)
# A plain insert: a pair already applied must fail the transaction, not be skipped.
_INSERT_APPLIED = (
    f"INSERT INTO {applied_events.schema}.{applied_events.name}"  # noqa: S608 - names from sql_tables
    " (user_id, event_hash)"
    " SELECT * FROM unnest(%(user_id)b::text[], %(event_hash)b::text[])"
)
_ENTRY_COLUMNS = ("user_id", "event_hash", "event_type", "app_source", "timestamp")
_NUDGE_COLUMNS = (
    "nudge_id",
    "user_id",
    "nudge_type",
    "shown_in",
    "target_app",
    "status",
    "detected_at",
    "variant",
)

ASYNC_COMMIT = "SET LOCAL synchronous_commit = off"
"""For the worker's own transactions: claims, and the commit that saves and marks a batch.

Their commit need not wait for the WAL flush. A crash can only lose such a transaction
whole: a lost claim leaves its events claimable, a lost save leaves them ``processing``
until the lease brings them back, and the batch is done again with nothing counted twice.
Events themselves are still committed durably, by whoever publishes them.
"""

CLAIM_TURN = (
    "SET LOCAL lock_timeout = '1s';"
    " SET LOCAL idle_in_transaction_session_timeout = '5s';"
    " SELECT pg_advisory_xact_lock(4262024001)"
)
"""Taken first in a claim's transaction, so claims run one at a time across workers.

The claim leaves alone users whose events another batch holds, but two claims running at
once cannot see each other's batch: both took events of the same users, and one of the
two batches then met a version conflict at save and was folded again (a sizeable share
of batches with two workers). One at a time, each claim sees every batch claimed before
it. A claim is a small part of a batch's time, so waiting for one's turn costs little
(docs/benchmarks.md has the figures).

The key is arbitrary, this lock's alone. A turn not granted within a second means the
worker holding it is stuck mid-claim (stopped, or cut off): the claim then goes ahead
without its turn rather than stall every worker (``TURN_NOT_GRANTED``). And the server
ends a claim's session that sits idle in its transaction for 5 s, so a stuck worker
gives the turn back: its uncommitted claim leaves the events where they were.
"""
TURN_NOT_GRANTED = "55P03"
"""SQLSTATE ``lock_not_available``: ``CLAIM_TURN``'s lock timeout expired."""


def mark_outcome(execute: Execute, outcome: BatchOutcome) -> None:
    """At most two statements for a whole batch, whatever its mix of outcomes."""
    finished = [*outcome.processed, *outcome.duplicates]
    if finished:
        execute(
            _MARK_FINISHED,
            {"finished": finished, "duplicates": list(outcome.duplicates), "now": outcome.now},
        )
    if outcome.failures:
        failures = outcome.failures
        execute(
            _MARK_FAILED,
            {
                "id": [failure.event_id for failure in failures],
                "status": ["failed" if f.retry_at is not None else "dead" for f in failures],
                "retry_at": [failure.retry_at for failure in failures],
                "error": [failure.error[:ERROR_LIMIT] for failure in failures],
            },
        )


def record_applied(execute: Execute, applied: Sequence[AppliedEvent]) -> None:
    """Raises a unique violation when a pair is there already.

    In key order, so that two saves that share pairs wait for each other rather than
    deadlock: the second then fails on the first pair the first one committed.
    """
    if applied:
        ordered = sorted(applied)
        execute(
            _INSERT_APPLIED,
            {
                "user_id": [event.user_id for event in ordered],
                "event_hash": [event.event_hash for event in ordered],
            },
        )


def write_read_models(execute: Execute, changes: ReadModelChanges) -> None:
    """Idempotent: an entry or a nudge already there is kept, a conversion set again."""
    if changes.entries:
        execute(_INSERT_ENTRIES, _columns(changes.entries, _ENTRY_COLUMNS))
    if changes.nudges:
        execute(_INSERT_NUDGES, _columns(changes.nudges, _NUDGE_COLUMNS))
    if changes.conversions:
        ids, times = zip(*changes.conversions, strict=True)
        execute(_CONVERT_NUDGES, {"nudge_id": list(ids), "converted_at": list(times)})


def _columns(rows: Sequence[object], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [getattr(row, name) for row in rows] for name in names}
