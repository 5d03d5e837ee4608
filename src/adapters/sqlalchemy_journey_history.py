"""``JourneyHistory`` over eventsourcing's own tables, on SQLite and PostgreSQL.

Reads the recorder's tables directly (their layout is eventsourcing's: originator_id,
originator_version, topic, state); the table names (and, on PostgreSQL, their schema)
come from the application's own recorders, so they follow whatever eventsourcing chose.
The queries, and the parameters each store takes, are the store's statements object
(``src.adapters.postgres.journey_history``, ``src.adapters.sqlite.journey_history``);
this adapter runs them and reads the rows back the same way on both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from sqlalchemy import Engine, TextClause

from src.adapters.postgres.journey_history import PostgresJourneyStatements
from src.adapters.sql.database import read_connection
from src.adapters.sql.statements import for_store
from src.adapters.sqlite.journey_history import SqliteJourneyStatements
from src.application.ports.journeys import StoredHistory


class JourneyStatements(Protocol):
    """The two reads of one store (``src.adapters.postgres``/``sqlite.journey_history``):
    a driver-level string (run by ``exec_driver_sql``) or a SQLAlchemy ``TextClause``."""

    @property
    def latest_snapshots(self) -> str | TextClause: ...
    @property
    def events_after(self) -> str | TextClause: ...
    def snapshot_parameters(self, journey_ids: Sequence[UUID]) -> dict[str, Any]: ...
    def events_parameters(self, versions: Mapping[UUID, int]) -> dict[str, Any]: ...


class SqlAlchemyJourneyHistory:
    def __init__(
        self,
        engine: Engine,
        events_table: str,
        snapshots_table: str,
        schema: str | None = None,
        statements: JourneyStatements | None = None,
    ) -> None:
        self._engine = engine
        quote = engine.dialect.identifier_preparer.quote
        prefix = f"{quote(schema)}." if schema else ""
        names = {
            "events": prefix + quote(events_table),
            "snapshots": prefix + quote(snapshots_table),
        }
        if statements is None:
            statements = for_store(
                engine,
                postgres=lambda: PostgresJourneyStatements(**names),
                sqlite=lambda: SqliteJourneyStatements(**names),
            )
        self._statements: JourneyStatements = statements

    @classmethod
    def for_application(
        cls, engine: Engine, application: Application[UUID]
    ) -> SqlAlchemyJourneyHistory:
        events: Any = application.recorder
        snapshots: Any = application.snapshots.recorder if application.snapshots else events
        # PostgreSQL's recorders keep their tables in the schema of their datastore.
        datastore = getattr(events, "datastore", None)
        schema = getattr(datastore, "schema", None)
        return cls(
            engine,
            events.events_table_name,
            snapshots.events_table_name,
            schema if isinstance(schema, str) else None,
        )

    def latest_snapshots(self, journey_ids: Sequence[UUID]) -> list[StoredEvent]:
        if not journey_ids:
            return []
        statements = self._statements
        rows = self._fetch(statements.latest_snapshots, statements.snapshot_parameters(journey_ids))
        return [_stored(*row) for row in rows]

    def events_after(self, versions: Mapping[UUID, int]) -> StoredHistory:
        """The events, and the count of erasures the query's row without an id carries
        (none before the first erasure: 0)."""
        statements = self._statements
        rows = self._fetch(statements.events_after, statements.events_parameters(versions))
        erasures = 0
        stored: list[StoredEvent] = []
        for originator_id, version, topic, state in rows:
            if originator_id is None:
                erasures = int(version)
            else:
                stored.append(_stored(originator_id, version, topic, state))
        return StoredHistory(stored, erasures)

    def _fetch(self, query: str | TextClause, parameters: Mapping[str, Any]) -> Sequence[Any]:
        with read_connection(self._engine) as connection:
            if isinstance(query, str):
                return connection.exec_driver_sql(query, dict(parameters)).all()
            return connection.execute(query, parameters).all()


def _stored(originator_id: object, version: int, topic: str, state: bytes) -> StoredEvent:
    """A row as eventsourcing's stored event: PostgreSQL gives ``UUID``s, SQLite hex text."""
    return StoredEvent(
        originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)),
        version,
        topic,
        state,
    )
