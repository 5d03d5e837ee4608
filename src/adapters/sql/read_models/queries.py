"""What the apps read back: a user's journey, and the settings of the store's nudge rules."""

from __future__ import annotations

from sqlalchemy import Engine, select

from src.adapters.sql.database import read_connection
from src.adapters.sql.tables import insights, journey_entries, nudges
from src.adapters.sqlalchemy_rule_book import SqlAlchemyRuleBookStore
from src.application.ports.nudges import NudgeRecord, NudgeSettings
from src.application.ports.read_models import InsightRecord, Journey, JourneyEntry


class SqlJourneyQueries:
    """Reads a journey's views in one read transaction, so its parts agree."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._rule_book = SqlAlchemyRuleBookStore(engine)

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

    def nudge_settings(self) -> NudgeSettings:
        return self._rule_book.nudge_rules().settings
