"""``AppliedEvents`` on SQLAlchemy Core, the same question on SQLite and PostgreSQL.

The rows are written by the journeys' recorders, in the commit that saves the journeys
(``applied_writes`` in ``batch_writes``); this reads them.
One query for a whole batch, run by the store's statements object
(``src.adapters.postgres.applied_events``: the pairs as arrays joined on the table's key;
``src.adapters.sqlite.applied_events``: two ``IN`` lists). The rows it finds are kept
only when they are pairs of the batch.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from src.adapters.postgres.applied_events import PostgresAppliedEventsStatements
from src.adapters.sql.database import read_connection
from src.adapters.sql.statements import for_store
from src.adapters.sqlite.applied_events import SqliteAppliedEventsStatements
from src.application.ports.journeys import AppliedEvent


class AppliedEventsStatements(Protocol):
    def applied(
        self, connection: Connection, events: Collection[AppliedEvent]
    ) -> Iterable[Sequence[Any]]:
        """The stored (user, hash) rows that may be among ``events`` (at least all of them)."""


class SqlAlchemyAppliedEvents:
    def __init__(self, engine: Engine, statements: AppliedEventsStatements | None = None) -> None:
        self._engine = engine
        if statements is None:
            statements = for_store(
                engine,
                postgres=PostgresAppliedEventsStatements,
                sqlite=SqliteAppliedEventsStatements,
            )
        self._statements: AppliedEventsStatements = statements

    def already_applied(self, events: Collection[AppliedEvent]) -> set[AppliedEvent]:
        if not events:
            return set()
        with read_connection(self._engine) as connection:
            rows = self._statements.applied(connection, events)
            found = {AppliedEvent(str(row[0]), str(row[1])) for row in rows}
        return found & set(events)
