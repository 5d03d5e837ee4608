"""eventsourcing's SQLite recorder, saving a batch's whole unit of work in one transaction.

eventsourcing's ``_insert_events`` hook runs inside the transaction that stores the
journeys' events (its process recorder writes tracking records there); this recorder also
marks the batch's inbox rows, inserts the (user, source event) pairs the events apply (a
pair already there fails the save: another save applied that event), writes the
read-model rows of the new events and moves the projection's tracking row past them
(``BatchWrites``), as the PostgreSQL recorder does; and before all of it, checks the
batch's fencing token (``lease_fence``).
The flywheel's tables live in the same SQLite file as eventsourcing's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.persistence import StoredEvent, Transcoder
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)
from sqlalchemy import bindparam, column, func, select, table, update

from src.adapters.compiled_transcoder import journeys_transcoder
from src.adapters.sql.batch_writes import batch_writes
from src.adapters.sql.lease_fence import fence_of, hold_sqlite
from src.adapters.sql.tables import projection_tracking
from src.adapters.sqlite.batch_sql import CursorExecutor, write_rows
from src.application.ports.journeys import BatchWrites

EVENTS_TABLE = "stored_events"
"""eventsourcing's name for an SQLite application's events table."""


class BatchSQLiteRecorder(SQLiteApplicationRecorder):
    honours_batches: ClassVar[bool] = True
    """Checked at start (``eventsourcing_env.require_batch_recorder``)."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name)
        stored = table(events_table_name, column("rowid"))
        # Moves the tracking row to the batch's last notification, provided every
        # notification before the batch's first is projected already; otherwise the
        # pull projector catches up later (the view writes are idempotent).
        before = (
            select(func.coalesce(func.max(stored.c.rowid), 0))
            .where(stored.c.rowid < bindparam("first"))
            .scalar_subquery()
        )
        self._track = (
            update(projection_tracking)
            .where(
                projection_tracking.c.name == bindparam("projection"),
                projection_tracking.c.position >= before,
            )
            .values(position=bindparam("last"))
        )

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        batch: BatchWrites | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """eventsourcing's hook, given the batch's unit of work by the application's ``save``.

        ``batch`` is named, not read from ``kwargs``: a save without one (a snapshot, a
        test's journey) stores its events only.
        """
        fence = fence_of(batch.outcome) if batch is not None else None
        if fence is not None:

            def fetch(statement: str, parameters: tuple[Any, ...]) -> Sequence[Any]:
                c.execute(statement, parameters)
                return list(c.fetchall())

            hold_sqlite(fetch, fence)
        notification_ids = super()._insert_events(c, stored_events, batch=batch, **kwargs)
        if batch is None:
            return notification_ids
        execute = CursorExecutor(c)
        write_rows(execute, batch_writes(batch))
        if notification_ids:
            execute(
                self._track,
                [
                    {
                        "projection": batch.projection,
                        "first": min(notification_ids),
                        "last": max(notification_ids),
                    }
                ],
            )
        return notification_ids


class BatchSQLiteFactory(SQLiteFactory):
    """``PERSISTENCE_MODULE`` for SQLite: the stock factory with the recorder above."""

    application_recorder_class = BatchSQLiteRecorder

    def transcoder(self) -> Transcoder:
        return journeys_transcoder(self, super().transcoder)
