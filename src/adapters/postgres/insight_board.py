"""``InsightBoard`` on PostgreSQL: the SQL function every client calls, called here too,
so the HTTP API answers what the bridge's SQL and Supabase transports read."""

from __future__ import annotations

from sqlalchemy import Engine, text

from src.adapters.sql.database import read_connection
from src.application.insight_policy import UserInsight

_INSIGHTS = text(
    "SELECT insight_id, kind, data, message, created_at FROM phoenix_user_insights(:user_id, :lang)"
)


class PostgresInsightBoard:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def user_insights(self, user_id: str, language: str) -> list[UserInsight]:
        with read_connection(self._engine) as connection:
            rows = connection.execute(_INSIGHTS, {"user_id": user_id, "lang": language}).all()
        return [UserInsight(*row) for row in rows]
