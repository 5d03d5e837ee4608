"""``InsightBoard`` on the embedded SQLite store: the user's rows read here, the rule of
``src.application.insight_policy`` applied to them (PostgreSQL applies it in SQL)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from src.adapters.sql.database import read_connection
from src.adapters.sql.tables import insights
from src.application.insight_policy import UserInsight, insights_to_show
from src.application.ports.read_models import InsightRecord


class SqliteInsightBoard:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def user_insights(self, user_id: str, language: str) -> list[UserInsight]:
        with read_connection(self._engine) as connection:
            records = [
                InsightRecord(**row._mapping)
                for row in connection.execute(select(insights).where(insights.c.user_id == user_id))
            ]
        return insights_to_show(records, language)
