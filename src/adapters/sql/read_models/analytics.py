"""The figures across users: the ecosystem's activity and the experiments' counts.

The nudges' outcomes (shown, converted, organic) come from ``nudge_outcomes``, the
store's own definition, so these figures agree with what the SQL objects answer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, case, distinct, func, select

from src.adapters.sql.database import read_connection
from src.adapters.sql.nudge_outcomes import nudge_outcomes
from src.adapters.sql.tables import journey_entries
from src.application.ecosystem import app_combinations
from src.application.ports.read_models import EcosystemFigures
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


class SqlAnalytics:
    """Aggregates over the read models, each in one read transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

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
            outcome = nudge_outcomes(self._engine)
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
            outcome = nudge_outcomes(self._engine)
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
