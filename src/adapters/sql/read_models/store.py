"""``ReadModelStore`` on SQLAlchemy Core, for SQLite and PostgreSQL.

One object for the port, made of the three jobs it does, each in a module of its own:
the projection's writes, the journeys' queries and the analytics.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import Engine

from src.adapters.sql.read_models.analytics import SqlAnalytics
from src.adapters.sql.read_models.projection import SqlProjections, SqlProjectionTransaction
from src.adapters.sql.read_models.queries import SqlJourneyQueries
from src.application.ports.nudges import NudgeSettings
from src.application.ports.read_models import EcosystemFigures, Journey
from src.domain.experiments import VariantCounts


class SqlAlchemyReadModelStore:
    """The port's one face over the three jobs, which share nothing but the engine."""

    def __init__(self, engine: Engine) -> None:
        self._projections = SqlProjections(engine)
        self._queries = SqlJourneyQueries(engine)
        self._analytics = SqlAnalytics(engine)

    def projection(self, name: str) -> AbstractContextManager[SqlProjectionTransaction]:
        return self._projections.projection(name)

    def get_journey(self, user_id: str) -> Journey | None:
        return self._queries.get_journey(user_id)

    def ecosystem(self, since: datetime, period_days: int) -> EcosystemFigures:
        return self._analytics.ecosystem(since, period_days)

    def experiment_counts(self) -> dict[str, dict[str, VariantCounts]]:
        return self._analytics.experiment_counts()

    def nudge_settings(self) -> NudgeSettings:
        return self._queries.nudge_settings()
