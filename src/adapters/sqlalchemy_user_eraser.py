"""``UserEraser`` on SQLAlchemy Core: one user's rows out of every table, on SQLite and PostgreSQL.

The journeys' tables are eventsourcing's: their names (and, on PostgreSQL, their schema)
are read from the application's own recorders, so they follow whatever the
``PERSISTENCE_MODULE`` and ``POSTGRES_SCHEMA`` settings chose.

Locks are taken in the order the worker's writers take them, so none waits for another
in a circle: the user's inbox rows (as a save that marks its batch), the journeys' table
(which a save locks before it moves the projection), then the projection's tracking row
(which the projector holds while it writes the views), then the views. On SQLite the
transaction holds the database's single write lock from its start (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from sqlalchemy import Connection, Engine, TextClause, delete, select, text

from src.adapters.postgres.user_eraser import PostgresEraserStatements
from src.adapters.sql.statements import for_store, upsert_of
from src.adapters.sql.tables import (
    ERASURES_TRACKING,
    applied_events,
    events,
    insights,
    journey_entries,
    nudge_offers,
    nudges,
    nudges_sent,
    skill_profiles,
    skills_extractions,
)
from src.adapters.sql.tables import projection_tracking as tracking
from src.adapters.sqlite.user_eraser import SqliteEraserStatements
from src.application.errors import UserBusyError
from src.application.ports.erasure import ErasureReport
from src.application.read_model_changes import PROJECTION_NAME

_DELETE_STREAM = "DELETE FROM {table} WHERE originator_id = :id"


class EraserStatements(Protocol):
    """What a store does its own way (``src.adapters.postgres``/``sqlite.user_eraser``)."""

    @property
    def rewind(self) -> TextClause | None:
        """Run after the journey's events are deleted, if any were; ``None``: nothing to do."""

    def stream(self, journey_id: UUID) -> dict[str, Any]:
        """The parameters of ``_DELETE_STREAM`` for the user's journey."""


def stored_events_tables(engine: Engine, application: Application[UUID]) -> tuple[str, str]:
    """The journeys' stored-events and snapshots tables, quoted, schema-qualified if any."""
    quote = engine.dialect.identifier_preparer.quote
    quote_schema = engine.dialect.identifier_preparer.quote_schema

    def qualified(recorder: Any) -> str:
        schema = getattr(getattr(recorder, "datastore", None), "schema", None)
        table = quote(recorder.events_table_name)
        return f"{quote_schema(schema)}.{table}" if schema else table

    recorder: Any = application.recorder
    snapshots: Any = application.snapshots.recorder if application.snapshots else None
    return qualified(recorder), qualified(snapshots) if snapshots is not None else ""


class SqlAlchemyUserEraser:
    def __init__(
        self,
        engine: Engine,
        events_table: str,
        snapshots_table: str,
        statements: EraserStatements | None = None,
    ) -> None:
        self._engine = engine
        if statements is None:
            statements = for_store(
                engine,
                postgres=lambda: PostgresEraserStatements(events_table),
                sqlite=lambda: SqliteEraserStatements(events_table),
            )
        self._statements: EraserStatements = statements
        self._delete_stream = text(_DELETE_STREAM.format(table=events_table))
        self._delete_snapshots = (
            text(_DELETE_STREAM.format(table=snapshots_table)) if snapshots_table else None
        )
        self._count_erasure = (
            upsert_of(engine)(tracking)
            .values(name=ERASURES_TRACKING, position=1)
            .on_conflict_do_update(
                index_elements=[tracking.c.name], set_={"position": tracking.c.position + 1}
            )
        )

    @classmethod
    def for_application(
        cls, engine: Engine, application: Application[UUID]
    ) -> SqlAlchemyUserEraser:
        return cls(engine, *stored_events_tables(engine, application))

    def forget(self, user_id: str, journey_id: UUID, now: datetime) -> ErasureReport:
        mine = events.c.user_id == user_id
        leased = select(events.c.id).where(
            mine, events.c.status == "processing", events.c.locked_until > now
        )
        stream = self._statements.stream(journey_id)
        rewind = self._statements.rewind
        with self._engine.begin() as connection:
            # Refused before any lock when a batch of this user is in a worker's hands,
            # then checked again on the locked rows (a claim may have committed between).
            if connection.execute(leased.limit(1)).first() is not None:
                raise _busy(user_id)
            connection.execute(select(events.c.id).where(mine).with_for_update())
            if connection.execute(leased.limit(1)).first() is not None:
                raise _busy(user_id)
            removed_events = _count(connection, delete(events).where(mine))
            journey_events = connection.execute(self._delete_stream, stream).rowcount
            journey_snapshots = (
                connection.execute(self._delete_snapshots, stream).rowcount
                if self._delete_snapshots is not None
                else 0
            )
            # Left behind, they would make the events the user sends again count as
            # applied already, into a journey that no longer has them.
            applied = _count(
                connection, delete(applied_events).where(applied_events.c.user_id == user_id)
            )
            connection.execute(
                select(tracking.c.position)
                .where(tracking.c.name == PROJECTION_NAME)
                .with_for_update()
            )
            # Counted in this transaction: a worker that reads the count with its journeys
            # sees either the user's history or the count moved, never the count unmoved
            # with the history gone.
            connection.execute(self._count_erasure)
            if rewind is not None and journey_events:
                connection.execute(rewind)
            # The nudges (and offers) before their displays: a display being recorded
            # holds its nudge.
            removed_nudges = _count(connection, delete(nudges).where(nudges.c.user_id == user_id))
            offers = _count(
                connection, delete(nudge_offers).where(nudge_offers.c.user_id == user_id)
            )
            removed_sent = _count(
                connection, delete(nudges_sent).where(nudges_sent.c.user_id == user_id)
            )
            entries = _count(
                connection, delete(journey_entries).where(journey_entries.c.user_id == user_id)
            )
            # What a model read from their offers and CVs: no trace of the texts is left.
            extractions = _count(
                connection,
                delete(skills_extractions).where(skills_extractions.c.user_id == user_id),
            )
            removed_insights = _count(
                connection, delete(insights).where(insights.c.user_id == user_id)
            )
            profiles = _count(
                connection, delete(skill_profiles).where(skill_profiles.c.user_id == user_id)
            )
        return ErasureReport(
            events=removed_events,
            journey_events=int(journey_events),
            journey_snapshots=int(journey_snapshots),
            journey_entries=entries,
            nudges=removed_nudges,
            nudges_sent=removed_sent,
            applied_events=applied,
            nudge_offers=offers,
            skills_extractions=extractions,
            insights=removed_insights,
            skill_profiles=profiles,
        )


def _count(connection: Connection, statement: Any) -> int:
    return int(connection.execute(statement).rowcount)


def _busy(user_id: str) -> UserBusyError:
    return UserBusyError(
        f"events of user {user_id!r} are being processed right now; try again in a moment"
    )
