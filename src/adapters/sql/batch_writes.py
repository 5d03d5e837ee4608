"""What a batch writes besides the journeys, decided once for every store.

A batch's outcome marks its inbox rows, and its journey events add read-model rows. Which
rows go to which table with which values is decided here, as plain ``RowWrite`` values;
each store only renders them: SQLite as one statement run per row
(``sqlite.batch_sql``), PostgreSQL as one statement per table over column arrays
(``postgres.batch_sql``). A change of what is written is made here and holds for both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table

from src.adapters.sql.tables import (
    ERROR_LIMIT,
    applied_events,
    events,
    insights,
    journey_entries,
    nudges,
)
from src.application.ports.inbox import BatchOutcome
from src.application.ports.journeys import BatchWrites
from src.application.ports.read_models import ReadModelChanges


@dataclass(frozen=True)
class RowWrite:
    """Rows for one table, all with the same columns.

    With a ``key`` each row updates the row whose ``key`` column has its value there;
    without, the rows are inserted, and one already there (same primary key) is kept
    when ``keep_existing`` (idempotent writes), or fails the transaction when not.

    ``shared`` holds the columns whose value is the same in every row, given once: each
    row is its own columns plus these. PostgreSQL sends them as one parameter each
    rather than as arrays of the same value repeated (a batch's marks: only the ids
    differ).
    """

    table: Table
    rows: Sequence[Mapping[str, Any]]
    key: str | None = None
    keep_existing: bool = True
    shared: Mapping[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        """The rows' own columns (``shared`` left out)."""
        return tuple(self.rows[0]) if self.rows else ()


def outcome_writes(outcome: BatchOutcome) -> list[RowWrite]:
    """How each inbox row of the batch ends: processed, duplicate, retried later or dead.

    Every finished row gives its lease back (``locked_until``) and keeps the name of the
    batch that finished it (``locked_by``): that batch may mark it again (a save redone
    in parts after some of it went through), a batch that lost it may not (``lease_fence``).
    A duplicate keeps the error it may have had from an earlier attempt (its column is
    left out); a processed event has none. A row that arrived without a hash takes it here
    (``outcome.hashes``), in the same new version of the row; rows that have theirs are
    written without the column, so a batch mixing both writes each kind in its own
    statement.
    """
    released = {"locked_until": None, "locked_by": outcome.holder}
    hashes = outcome.hashes
    processed = {
        "status": "processed",
        "processed_at": outcome.now,
        "ai_processing_error": None,
        **released,
    }
    duplicate = {"status": "duplicate", "processed_at": outcome.now, **released}
    failed = [
        {
            "id": failure.event_id,
            "status": "failed" if failure.retry_at is not None else "dead",
            "locked_until": failure.retry_at,
            "ai_processing_error": failure.error[:ERROR_LIMIT],
        }
        for failure in outcome.failures
    ]
    return [
        *_marks([{"id": i} for i in outcome.processed], processed, hashes),
        *_marks([{"id": i} for i in outcome.duplicates], duplicate, hashes),
        *_marks(failed, {"locked_by": outcome.holder}, hashes),
    ]


def _marks(
    rows: list[dict[str, Any]], shared: Mapping[str, Any], hashes: Mapping[int, str]
) -> list[RowWrite]:
    """The rows' marks, those taking their hash (``hashes``) in a write of their own."""
    hashed = [{**row, "event_hash": hashes[row["id"]]} for row in rows if row["id"] in hashes]
    plain = [row for row in rows if row["id"] not in hashes] if hashed else rows
    return [RowWrite(events, part, key="id", shared=shared) for part in (plain, hashed) if part]


def read_model_writes(changes: ReadModelChanges) -> list[RowWrite]:
    """Idempotent: an entry or a nudge already there is kept, a conversion set again."""
    writes = [
        RowWrite(journey_entries, [entry.__dict__ for entry in changes.entries]),
        RowWrite(nudges, [nudge.__dict__ for nudge in changes.nudges]),
        RowWrite(
            nudges,
            [
                {"nudge_id": nudge_id, "status": "converted", "converted_at": converted_at}
                for nudge_id, converted_at in changes.conversions
            ],
            key="nudge_id",
        ),
        RowWrite(insights, [insight.__dict__ for insight in changes.insights]),
    ]
    return [write for write in writes if write.rows]


def batch_writes(batch: BatchWrites) -> list[RowWrite]:
    """Everything a batch's unit of work writes besides the journeys' events."""
    marked = outcome_writes(batch.outcome) if batch.outcome is not None else []
    return [*marked, *applied_writes(batch), *read_model_writes(batch.read_model_changes)]


def applied_writes(batch: BatchWrites) -> list[RowWrite]:
    """The (user, source event) pairs the journeys' new events apply, inserted plainly.

    A pair some other save committed first fails this save (it applied that event), so
    the batch is folded again, skipping it. In key order, so two saves sharing pairs
    wait for each other rather than deadlock.
    """
    if not batch.applied:
        return []
    rows = [pair._asdict() for pair in sorted(batch.applied)]
    return [RowWrite(applied_events, rows, keep_existing=False)]
