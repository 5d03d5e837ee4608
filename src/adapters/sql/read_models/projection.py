"""The projection's writes: the views and the tracking position, in one transaction.

The projection's tracking row is locked (``FOR UPDATE`` on PostgreSQL, the whole-database
write lock on SQLite) for the transaction that changes the views, so two workers never
project the same notification and a crash never loses one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from src.adapters.postgres import batch_sql as postgres_batch_sql
from src.adapters.sql.batch_writes import read_model_writes
from src.adapters.sql.tables import projection_tracking
from src.adapters.sqlite import batch_sql as sqlite_batch_sql
from src.application.ports.read_models import ReadModelChanges


class SqlProjectionTransaction:
    """One step of the projection: its views' rows and its new position, in one commit."""

    def __init__(self, connection: Connection, name: str, position: int) -> None:
        self._connection = connection
        self._name = name
        self._position = position

    @property
    def position(self) -> int:
        return self._position

    def write(self, changes: ReadModelChanges, position: int) -> None:
        connection = self._connection
        if connection.dialect.name == "postgresql":
            postgres_batch_sql.write_rows(connection.exec_driver_sql, read_model_writes(changes))
        else:
            sqlite_batch_sql.write_rows(connection.execute, read_model_writes(changes))
        connection.execute(
            update(projection_tracking)
            .where(projection_tracking.c.name == self._name)
            .values(position=position)
        )
        self._position = position


class SqlProjections:
    """Opens the projection's transactions: each holds the tracking row until it commits."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = pg_insert if self._postgres else sqlite_insert

    @contextmanager
    def projection(self, name: str) -> Iterator[SqlProjectionTransaction]:
        with self._engine.begin() as connection:
            if self._postgres:
                # The views and the tracking position commit or vanish together, and
                # what they are made of is stored durably elsewhere: a commit lost in a
                # crash is pulled again from the position it leaves. So the commit need
                # not wait for the WAL flush, which batch saves waiting on this row
                # would otherwise wait for too.
                connection.exec_driver_sql(postgres_batch_sql.ASYNC_COMMIT)
            connection.execute(
                self._insert(projection_tracking)
                .values(name=name, position=0)
                .on_conflict_do_nothing()
            )
            position = connection.execute(
                select(projection_tracking.c.position)
                .where(projection_tracking.c.name == name)
                .with_for_update()
            ).scalar_one()
            yield SqlProjectionTransaction(connection, name, int(position))
