"""``ReadModelStore`` on SQLAlchemy Core, for SQLite and PostgreSQL.

The projection's tracking row is locked (``FOR UPDATE`` on PostgreSQL, the whole-database
write lock on SQLite) for the transaction that changes the views, so two workers never
project the same notification and a crash never loses one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    case,
    distinct,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from src.adapters.postgres import batch_sql as postgres_batch_sql
from src.adapters.sql.batch_writes import read_model_writes
from src.adapters.sql.database import read_connection
from src.adapters.sql.nudge_outcomes import nudge_outcomes
from src.adapters.sql.tables import insights, journey_entries, nudges, projection_tracking
from src.adapters.sqlalchemy_rule_book import SqlAlchemyRuleBookStore
from src.adapters.sqlite import batch_sql as sqlite_batch_sql
from src.application.nudge_policy import NudgeSettings
from src.application.ports import (
    EcosystemFigures,
    InsightRecord,
    Journey,
    JourneyEntry,
    NudgeRecord,
    ReadModelChanges,
    app_combinations,
)
from src.domain.experiments import VariantCounts


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
        self._rule_book = SqlAlchemyRuleBookStore(engine)

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
            learnt = [
                InsightRecord(**row._mapping)
                for row in connection.execute(
                    select(insights)
                    .where(insights.c.user_id == user_id)
                    .order_by(insights.c.created_at, insights.c.insight_id)
                )
            ]
        if not entries and not found:
            return None
        apps = tuple(sorted({entry.app_source for entry in entries}))
        return Journey(
            user_id=user_id,
            apps=apps,
            events=tuple(entries),
            nudges=tuple(found),
            insights=tuple(learnt),
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
            by_app_set = _users_by_app_set(connection, recent, sorted(by_app))
            outcome = nudge_outcomes(connection.dialect.name)
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

    def experiment_counts(self) -> dict[str, dict[str, VariantCounts]]:
        with read_connection(self._engine) as connection:
            outcome = nudge_outcomes(connection.dialect.name)
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

    def nudge_settings(self) -> NudgeSettings:
        return self._rule_book.nudge_rules().settings
