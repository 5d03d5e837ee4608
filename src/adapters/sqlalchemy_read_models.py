"""``ReadModelStore`` on SQLAlchemy Core, for SQLite and PostgreSQL.

The projection's tracking row is locked (``FOR UPDATE`` on PostgreSQL, the whole-database
write lock on SQLite) for the transaction that changes the views, so two workers never
project the same notification and a crash never loses one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Subquery,
    and_,
    case,
    delete,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from src.adapters import postgres_batch_sql, sqlite_batch_sql
from src.adapters.batch_writes import read_model_writes
from src.adapters.sql_database import read_connection
from src.adapters.sql_tables import (
    journey_entries,
    nudge_variants,
    nudges,
    nudges_sent,
    projection_tracking,
)
from src.application.errors import NudgeNotFoundError
from src.application.ports import (
    EcosystemFigures,
    Journey,
    JourneyEntry,
    NudgeRecord,
    ReadModelChanges,
    app_combinations,
)
from src.domain.experiments import ExperimentBook, VariantCounts


def _users_by_app_set(
    connection: Connection, recent: ColumnElement[bool], apps: list[str]
) -> dict[frozenset[str], int]:
    """Users per exact set of apps they were active in: one row per set, at most 2^apps."""
    if not apps:
        return {}
    flags = [
        func.max(case((journey_entries.c.app_source == app, 1), else_=0)).label(f"a{i}")
        for i, app in enumerate(apps)
    ]
    per_user = select(*flags).where(recent).group_by(journey_entries.c.user_id).subquery()
    rows = connection.execute(select(*per_user.c, func.count()).group_by(*per_user.c)).all()
    return {
        frozenset(app for app, flag in zip(apps, row[:-1], strict=True) if flag): int(row[-1])
        for row in rows
    }


class _SqlProjectionTransaction:
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


class SqlAlchemyReadModelStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = pg_insert if self._postgres else sqlite_insert

    @contextmanager
    def projection(self, name: str) -> Iterator[_SqlProjectionTransaction]:
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
            yield _SqlProjectionTransaction(connection, name, int(position))

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
            # The nudge is held while its display is written: a user being forgotten
            # meanwhile loses both, or the display is refused; never an orphan display.
            user_id = connection.execute(
                select(nudges.c.user_id)
                .where(nudges.c.nudge_id == nudge_id)
                .with_for_update(read=True)
            ).scalar_one_or_none()
            if user_id is None:
                raise NudgeNotFoundError(f"no nudge with id {nudge_id!r}")
            connection.execute(
                nudges_sent.insert().values(
                    nudge_id=nudge_id, user_id=user_id, app=app, shown_at=at
                )
            )

    def ecosystem(
        self, since: datetime, period_days: int, attribution_days: int = 7
    ) -> EcosystemFigures:
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
            by_app_set = _users_by_app_set(connection, recent, sorted(by_app))
            outcome = nudge_outcomes(connection.dialect.name, attribution_days)
            detected, shown, converted, organic = connection.execute(
                select(
                    func.count().filter(outcome.c.detected_at >= since),
                    func.count().filter(outcome.c.exposed == 1, outcome.c.exposed_at >= since),
                    func.count().filter(outcome.c.converted == 1, outcome.c.reached_at >= since),
                    func.count().filter(outcome.c.organic == 1, outcome.c.reached_at >= since),
                ).select_from(outcome)
            ).one()
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
            nudges_organic=int(organic or 0),
            app_combinations=app_combinations(by_app_set),
        )

    def nudges_shown_since(self, user_id: str, app: str, since: datetime) -> set[str]:
        with read_connection(self._engine) as connection:
            return set(
                connection.execute(
                    select(nudges_sent.c.nudge_id)
                    .distinct()
                    .where(
                        nudges_sent.c.user_id == user_id,
                        nudges_sent.c.app == app,
                        nudges_sent.c.shown_at > since,
                    )
                ).scalars()
            )

    def experiment_counts(self, attribution_days: int) -> dict[str, dict[str, VariantCounts]]:
        with read_connection(self._engine) as connection:
            outcome = nudge_outcomes(connection.dialect.name, attribution_days)
            rows = connection.execute(
                select(
                    outcome.c.nudge_type,
                    outcome.c.variant,
                    func.count(),
                    func.coalesce(func.sum(outcome.c.exposed), 0),
                    func.coalesce(func.sum(outcome.c.converted), 0),
                ).group_by(outcome.c.nudge_type, outcome.c.variant)
            ).all()
        counts: dict[str, dict[str, VariantCounts]] = {}
        for nudge_type, variant, assigned, exposed, converted in rows:
            counts.setdefault(str(nudge_type), {})[str(variant)] = VariantCounts(
                assigned=int(assigned), exposed=int(exposed), converted=int(converted)
            )
        return counts

    def save_experiments(self, book: ExperimentBook, attribution_days: int) -> None:
        rows = [
            {
                "nudge_type": experiment.nudge_type,
                "variant": variant.variant,
                "position": position,
                "mode": experiment.mode,
                "weight": variant.weight,
                "messages": dict(variant.messages),
                "attribution_days": attribution_days,
            }
            for experiment in book
            for position, variant in enumerate(experiment.variants)
        ]
        with self._engine.begin() as connection:
            # An upsert, not delete-then-insert: workers starting together publish the
            # same rows, and two inserts of one key would collide.
            if rows:
                statement = self._insert(nudge_variants)
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["nudge_type", "variant"],
                        set_={name: statement.excluded[name] for name in _VARIANT_SETTINGS},
                    ),
                    rows,
                )
            keep = [(row["nudge_type"], row["variant"]) for row in rows]
            connection.execute(
                delete(nudge_variants).where(
                    ~tuple_(nudge_variants.c.nudge_type, nudge_variants.c.variant).in_(keep)
                )
                if keep
                else delete(nudge_variants)
            )


_VARIANT_SETTINGS = ("position", "mode", "weight", "messages", "attribution_days")


def nudge_outcomes(dialect: str, attribution_days: int) -> Subquery:
    """One row per nudge: when it was exposed, and whether reaching the target counts.

    The exposure is the first display, unless the user had already reached the target
    by then (a display after that is no exposure). Reaching the target after the
    exposure and within ``attribution_days`` is a conversion; any other reach is organic.
    Derived from the displays at query time, so a display written by any client (the
    API, the bridge's SQL or REST transports) counts, and re-processing changes nothing.
    """
    first = (
        select(
            nudges_sent.c.nudge_id.label("nudge_id"),
            func.min(nudges_sent.c.shown_at).label("first_shown"),
        )
        .group_by(nudges_sent.c.nudge_id)
        .subquery()
    )
    reached = nudges.c.converted_at
    shown = first.c.first_shown
    exposed = and_(shown.is_not(None), or_(reached.is_(None), shown <= reached))
    converted = and_(
        shown.is_not(None),
        reached.is_not(None),
        shown <= reached,
        _within_days(dialect, shown, reached, attribution_days),
    )
    return (
        select(
            nudges.c.nudge_type,
            nudges.c.variant,
            nudges.c.detected_at,
            reached.label("reached_at"),
            case((exposed, shown), else_=None).label("exposed_at"),
            case((exposed, 1), else_=0).label("exposed"),
            case((converted, 1), else_=0).label("converted"),
            case((converted, 0), (reached.is_not(None), 1), else_=0).label("organic"),
        )
        .select_from(nudges.outerjoin(first, first.c.nudge_id == nudges.c.nudge_id))
        .subquery()
    )


def _within_days(
    dialect: str, start: ColumnElement[Any], end: ColumnElement[Any], days: int
) -> ColumnElement[bool]:
    """``end <= start + days``, in each store's date arithmetic."""
    if dialect == "postgresql":
        return end <= start + func.make_interval(0, 0, 0, literal(days, Integer))
    return func.julianday(end) - func.julianday(start) <= days
