"""The projection's writes: the views and the tracking position, in one transaction.

The projection's tracking row is locked (``FOR UPDATE`` on PostgreSQL, the whole-database
write lock on SQLite) for the transaction that changes the views, so two workers never
project the same notification and a crash never loses one. What differs between the
stores (how rows are written, how the transaction commits) is the statements object's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import Connection, Engine, select, update

from src.adapters.postgres.projection import PostgresProjectionStatements
from src.adapters.sql.batch_writes import RowWrite, read_model_writes
from src.adapters.sql.statements import for_store, upsert_of
from src.adapters.sql.tables import projection_tracking
from src.adapters.sqlite.projection import SqliteProjectionStatements
from src.application.ports.read_models import ReadModelChanges


class ProjectionStatements(Protocol):
    def begin(self, connection: Connection) -> None:
        """Sets the transaction up, before the tracking row is locked."""
        ...

    def write_rows(self, connection: Connection, writes: list[RowWrite]) -> None:
        """Writes the views' rows."""
        ...


class SqlProjectionTransaction:
    """One step of the projection: its views' rows and its new position, in one commit."""

    def __init__(
        self, connection: Connection, statements: ProjectionStatements, name: str, position: int
    ) -> None:
        self._connection = connection
        self._statements = statements
        self._name = name
        self._position = position

    @property
    def position(self) -> int:
        return self._position

    def write(self, changes: ReadModelChanges, position: int) -> None:
        self._statements.write_rows(self._connection, read_model_writes(changes))
        self._connection.execute(
            update(projection_tracking)
            .where(projection_tracking.c.name == self._name)
            .values(position=position)
        )
        self._position = position


class SqlProjections:
    """Opens the projection's transactions: each holds the tracking row until it commits."""

    def __init__(self, engine: Engine, statements: ProjectionStatements | None = None) -> None:
        self._engine = engine
        self._insert = upsert_of(engine)
        if statements is None:
            statements = for_store(
                engine, postgres=PostgresProjectionStatements, sqlite=SqliteProjectionStatements
            )
        self._statements: ProjectionStatements = statements

    @contextmanager
    def projection(self, name: str) -> Iterator[SqlProjectionTransaction]:
        with self._engine.begin() as connection:
            self._statements.begin(connection)
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
            yield SqlProjectionTransaction(connection, self._statements, name, int(position))
