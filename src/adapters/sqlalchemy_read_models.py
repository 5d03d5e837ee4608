"""``ReadModelStore`` on SQLAlchemy Core, for SQLite and PostgreSQL.

The projection's tracking row is locked (``FOR UPDATE`` on PostgreSQL, the whole-database
write lock on SQLite) for the transaction that changes the views, so two workers never
project the same notification and a crash never loses one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    distinct,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from src.adapters.sql_database import read_connection
from src.adapters.sql_tables import journey_entries, nudges, nudges_sent, projection_tracking
from src.application.ports import (
    EcosystemFigures,
    Journey,
    JourneyEntry,
    NudgeRecord,
    ReadModelChanges,
)


class _SqlProjectionTransaction:
    def __init__(self, connection: Connection, name: str, position: int, insert: Any) -> None:
        self._connection = connection
        self._name = name
        self._position = position
        self._insert = insert

    @property
    def position(self) -> int:
        return self._position

    def write(self, changes: ReadModelChanges, position: int) -> None:
        connection = self._connection
        if connection.dialect.name == "postgresql":
            _write_postgres(connection, changes)
        else:
            _write_sqlite(connection, changes, self._insert)
        connection.execute(
            update(projection_tracking)
            .where(projection_tracking.c.name == self._name)
            .values(position=position)
        )
        self._position = position


def _write_sqlite(connection: Connection, changes: ReadModelChanges, insert: Any) -> None:
    """In-process SQLite: ``executemany`` costs no round trip per row."""
    if changes.entries:
        connection.execute(
            insert(journey_entries).on_conflict_do_nothing(),
            [entry.__dict__ for entry in changes.entries],
        )
    if changes.nudges:
        connection.execute(
            insert(nudges).on_conflict_do_nothing(), [nudge.__dict__ for nudge in changes.nudges]
        )
    if changes.conversions:
        connection.execute(
            update(nudges)
            .where(nudges.c.nudge_id == bindparam("converted_id"))
            .values(status="converted", converted_at=bindparam("converted_at")),
            [
                {"converted_id": nudge_id, "converted_at": converted_at}
                for nudge_id, converted_at in changes.conversions
            ],
        )


_INSERT_ENTRIES = text(
    "INSERT INTO phoenix_journey_entries"
    " (user_id, event_hash, event_type, app_source, timestamp)"
    " SELECT * FROM unnest(CAST(:user_id AS text[]), CAST(:event_hash AS text[]),"
    " CAST(:event_type AS text[]), CAST(:app_source AS text[]),"
    " CAST(:timestamp AS timestamptz[]))"
    " ON CONFLICT DO NOTHING"
)
_INSERT_NUDGES = text(
    "INSERT INTO phoenix_nudges"
    " (nudge_id, user_id, nudge_type, shown_in, target_app, status, detected_at)"
    " SELECT * FROM unnest(CAST(:nudge_id AS text[]), CAST(:user_id AS text[]),"
    " CAST(:nudge_type AS text[]), CAST(:shown_in AS text[]), CAST(:target_app AS text[]),"
    " CAST(:status AS text[]), CAST(:detected_at AS timestamptz[]))"
    " ON CONFLICT DO NOTHING"
)
_CONVERT_NUDGES = text(
    "UPDATE phoenix_nudges AS n SET status = 'converted', converted_at = c.converted_at"
    " FROM unnest(CAST(:nudge_id AS text[]), CAST(:converted_at AS timestamptz[]))"
    " AS c(nudge_id, converted_at)"
    " WHERE n.nudge_id = c.nudge_id"
)


def _write_postgres(connection: Connection, changes: ReadModelChanges) -> None:
    """One statement per table, the rows as column arrays: a thousand rows per round trip.

    ``executemany`` pipelines a statement per row, and a multi-row ``VALUES`` makes the
    server parse thousands of parameters; ``unnest`` of a few arrays costs neither.
    """
    if changes.entries:
        connection.execute(_INSERT_ENTRIES, _columns(changes.entries, _ENTRY_COLUMNS))
    if changes.nudges:
        connection.execute(_INSERT_NUDGES, _columns(changes.nudges, _NUDGE_COLUMNS))
    if changes.conversions:
        ids, times = zip(*changes.conversions, strict=True)
        connection.execute(_CONVERT_NUDGES, {"nudge_id": list(ids), "converted_at": list(times)})


_ENTRY_COLUMNS = ("user_id", "event_hash", "event_type", "app_source", "timestamp")
_NUDGE_COLUMNS = (
    "nudge_id",
    "user_id",
    "nudge_type",
    "shown_in",
    "target_app",
    "status",
    "detected_at",
)


def _columns(rows: Sequence[object], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [getattr(row, name) for row in rows] for name in names}


class SqlAlchemyReadModelStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    @contextmanager
    def projection(self, name: str) -> Iterator[_SqlProjectionTransaction]:
        with self._engine.begin() as connection:
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
            yield _SqlProjectionTransaction(connection, name, int(position), self._insert)

    def get_journey(self, user_id: str) -> Journey | None:
        with read_connection(self._engine) as connection:
            entries = [
                JourneyEntry(**row._mapping)
                for row in connection.execute(
                    select(journey_entries)
                    .where(journey_entries.c.user_id == user_id)
                    .order_by(journey_entries.c.timestamp, journey_entries.c.event_hash)
                )
            ]
            found = [
                NudgeRecord(**row._mapping)
                for row in connection.execute(
                    select(nudges).where(nudges.c.user_id == user_id).order_by(nudges.c.detected_at)
                )
            ]
        if not entries and not found:
            return None
        apps = tuple(sorted({entry.app_source for entry in entries}))
        return Journey(user_id=user_id, apps=apps, events=tuple(entries), nudges=tuple(found))

    def list_active_nudges(
        self, user_id: str, shown_in: str, shown_since: datetime
    ) -> list[NudgeRecord]:
        recently_shown = exists().where(
            nudges_sent.c.nudge_id == nudges.c.nudge_id, nudges_sent.c.shown_at > shown_since
        )
        with read_connection(self._engine) as connection:
            return [
                NudgeRecord(**row._mapping)
                for row in connection.execute(
                    select(nudges)
                    .where(
                        nudges.c.user_id == user_id,
                        nudges.c.shown_in == shown_in,
                        nudges.c.status == "active",
                        ~recently_shown,
                    )
                    .order_by(nudges.c.detected_at)
                )
            ]

    def get_nudge(self, nudge_id: str) -> NudgeRecord | None:
        with read_connection(self._engine) as connection:
            row = connection.execute(select(nudges).where(nudges.c.nudge_id == nudge_id)).first()
        return NudgeRecord(**row._mapping) if row is not None else None

    def record_shown(self, nudge_id: str, app: str, at: datetime) -> None:
        with self._engine.begin() as connection:
            user_id = connection.execute(
                select(nudges.c.user_id).where(nudges.c.nudge_id == nudge_id)
            ).scalar_one()
            connection.execute(
                nudges_sent.insert().values(
                    nudge_id=nudge_id, user_id=user_id, app=app, shown_at=at
                )
            )

    def ecosystem(self, since: datetime, period_days: int) -> EcosystemFigures:
        recent = journey_entries.c.timestamp >= since
        with read_connection(self._engine) as connection:
            total, users = connection.execute(
                select(func.count(), func.count(distinct(journey_entries.c.user_id))).where(recent)
            ).one()
            per_user_apps = (
                select(journey_entries.c.user_id)
                .where(recent)
                .group_by(journey_entries.c.user_id)
                .having(func.count(distinct(journey_entries.c.app_source)) > 1)
                .subquery()
            )
            cross_app = connection.execute(select(func.count()).select_from(per_user_apps)).scalar()
            by_app: dict[str, int] = dict(
                connection.execute(
                    select(journey_entries.c.app_source, func.count())
                    .where(recent)
                    .group_by(journey_entries.c.app_source)
                ).all()
            )
            by_type: dict[str, int] = dict(
                connection.execute(
                    select(journey_entries.c.event_type, func.count())
                    .where(recent)
                    .group_by(journey_entries.c.event_type)
                ).all()
            )
            detected = connection.execute(
                select(func.count()).where(nudges.c.detected_at >= since)
            ).scalar()
            shown = connection.execute(
                select(func.count()).where(nudges_sent.c.shown_at >= since)
            ).scalar()
            converted = connection.execute(
                select(func.count()).where(
                    and_(nudges.c.status == "converted", nudges.c.converted_at >= since)
                )
            ).scalar()
        return EcosystemFigures(
            period_days=period_days,
            total_events=int(total),
            unique_users=int(users),
            cross_app_users=int(cross_app or 0),
            events_by_app={str(k): int(v) for k, v in sorted(by_app.items())},
            events_by_type={str(k): int(v) for k, v in sorted(by_type.items())},
            nudges_detected=int(detected or 0),
            nudges_shown=int(shown or 0),
            nudges_converted=int(converted or 0),
        )
