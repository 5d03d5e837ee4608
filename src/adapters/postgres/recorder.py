"""eventsourcing's PostgreSQL recorder, made to save a whole batch in one cheap commit.

Two changes to the stock recorder:

* The stored events travel as four parallel arrays in binary format, zipped by
  ``unnest``. The stock recorder sends one array of a composite type in text format,
  escaping every byte of every event's state with regular expressions: a large share of
  the save (docs/benchmarks.md). The table lock, the NOTIFY and the returned
  notification ids are unchanged.
* Through eventsourcing's hook for extra rows (``_insert_events``, where its process
  recorder writes tracking records), the transaction that stores a batch's journey events
  also writes the rest of the batch's unit of work (``BatchWrites``): it marks the batch's
  inbox rows, inserts the (user, source event) pairs the events apply (a pair already
  there fails the whole save: another save applied that event) and writes the read-model
  rows of those events. The projection's tracking
  row then moves past the new notifications, provided every notification before them was
  already projected; otherwise the pull projector catches up later, and since the view
  writes are idempotent, writing these rows twice changes nothing. Before any of it, the
  batch's fencing token is checked (``lease_fence``): a batch that no longer holds its
  events writes nothing at all.

The insert itself has no hook of its own: the public ``insert_events`` is overridden,
keeping the stock method's steps through the recorder's public attributes (its lock
statements, its channel name, its table); no other private name is used or overridden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, cast

from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from src.adapters.compiled_transcoder import journeys_transcoder
from src.adapters.postgres.batch_sql import ASYNC_COMMIT, Execute, write_rows
from src.adapters.sql.batch_writes import batch_writes
from src.adapters.sql.lease_fence import fence_of, hold_postgres, lease_lost
from src.adapters.sql.tables import projection_tracking
from src.application.ports.journeys import BatchWrites


class TypeCreatedOnce(PostgresAggregateRecorder):
    """Creates eventsourcing's row type only when the store lacks it.

    The stock ``create_table`` runs ``CREATE TYPE`` (which has no ``IF NOT EXISTS``) on
    every start, for the events and the snapshots recorders alike, and swallows the
    "already exists" error, which the server still writes to its log as an ERROR, twice
    per start. Here the type's statement is left out of the list when the type is
    there; everything else (tables, indexes) runs as the stock method runs it.
    """

    def create_table(self) -> None:
        statements = self.sql_create_statements
        if not self._type_exists():
            super().create_table()
            return
        self.sql_create_statements = [s for s in statements if not _creates_type(s)]
        try:
            super().create_table()
        finally:
            self.sql_create_statements = statements

    def _type_exists(self) -> bool:
        name = f"{self.datastore.schema}.{self.stored_event_type_name}"
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT to_regtype(%s) IS NOT NULL AS present", (name,))
            row = curs.fetchone()
        return bool(row and row["present"])


def _creates_type(statement: Composed) -> bool:
    return "CREATE TYPE" in statement.as_string()


class BatchInsertRecorder(TypeCreatedOnce, PostgresApplicationRecorder):
    honours_batches: ClassVar[bool] = True
    """Checked at start (``eventsourcing_env.require_batch_recorder``)."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        names = {
            "schema": Identifier(datastore.schema),
            "table": Identifier(events_table_name),
            "id_type": Identifier(datastore.originator_id_type),
        }
        insert = (
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%(ids)b::{id_type}[], %(versions)b::bigint[],"
            " %(topics)b::text[], %(states)b::bytea[])"
            " RETURNING notification_id"
        )
        self._insert_arrays_statement = SQL(insert).format(**names)
        self._notify_statement = SQL("NOTIFY {0}").format(Identifier(self.channel_name))
        # The same insert, moving the projection's tracking row past the new
        # notifications when the last notification before them is already projected.
        # Every part of the statement sees the table as it was before the insert.
        self._insert_and_track_statement = SQL(
            "WITH inserted AS ({insert}),"
            " tracked AS (UPDATE {tracking}"
            " SET position = (SELECT max(notification_id) FROM inserted)"
            " WHERE name = %(projection)s AND position >= coalesce("
            "(SELECT max(notification_id) FROM {schema}.{table}"
            " WHERE notification_id < (SELECT min(notification_id) FROM inserted)), 0))"
            " SELECT notification_id FROM inserted"
        ).format(
            insert=self._insert_arrays_statement,
            tracking=Identifier(str(projection_tracking.schema), projection_tracking.name),
            **names,
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        batch: BatchWrites | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """The stock method's steps, with the array insert, and any error rolling back.

        As the stock method: in one pipelined transaction, the ``_insert_events`` hook
        first, then the table lock (``lock_table_statements``: notification ids are
        issued in commit order), the NOTIFY on ``channel_name``, and the insert returning
        the notification ids. Unlike it, an error never commits: the stock method catches
        an error of the insert and commits before re-raising it, harmless when the server
        raised it (the transaction is aborted already), not when Python did after this
        recorder's own writes were sent. A batch that lost its lease raises
        ``LeaseLostError``, never retried. ``batch`` is the unit of work the application's
        ``save`` built (none for a snapshot's save).
        """
        try:
            notification_ids = self._insert_in_one_trip(stored_events, batch=batch, **kwargs)
        except PersistenceError as error:
            fence = fence_of(batch.outcome) if batch is not None else None
            lost = lease_lost(error, fence) if fence is not None else None
            if lost is not None:
                raise lost from None
            raise
        if notification_ids is None:
            return None
        if len(notification_ids) != len(stored_events):
            msg = f"got {len(notification_ids)} notification ids for {len(stored_events)} events"
            raise ProgrammingError(msg)
        return notification_ids

    def _insert_in_one_trip(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        batch: BatchWrites | None = None,
        **kwargs: Any,
    ) -> list[int] | None:
        with (
            self.datastore.get_connection() as conn,
            conn.pipeline() as pipeline,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_events(curs, stored_events, batch=batch, **kwargs)
            if not stored_events:
                return None
            for lock_statement in self.lock_table_statements:
                curs.execute(lock_statement, prepare=True)
            curs.execute(self._notify_statement)
            params: dict[str, Any] = {
                "ids": [event.originator_id for event in stored_events],
                "versions": [event.originator_version for event in stored_events],
                "topics": [event.topic for event in stored_events],
                "states": [event.state for event in stored_events],
            }
            if batch is not None:
                params["projection"] = batch.projection
                curs.execute(self._insert_and_track_statement, params)
            else:
                curs.execute(self._insert_arrays_statement, params)
            pipeline.sync()  # a version conflict raises here, as IntegrityError
            return [row["notification_id"] for row in curs.fetchall()]

    def _insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        *,
        batch: BatchWrites | None = None,
        **kwargs: Any,
    ) -> None:
        """eventsourcing's hook for extra rows in the events' transaction, before the lock.

        The fencing token first, so that a batch that lost its lease writes nothing.
        """
        if batch is None:
            return
        execute = cast(Execute, curs.execute)
        fence = fence_of(batch.outcome)
        if fence is not None:
            hold_postgres(execute, fence)
        if batch.outcome is not None:
            curs.execute(ASYNC_COMMIT)
        write_rows(execute, batch_writes(batch))


class BatchInsertFactory(PostgresFactory):
    """``PERSISTENCE_MODULE`` for PostgreSQL: the stock factory with the recorder above."""

    aggregate_recorder_class = TypeCreatedOnce
    application_recorder_class = BatchInsertRecorder

    def transcoder(self) -> Transcoder:
        return journeys_transcoder(self, super().transcoder)
