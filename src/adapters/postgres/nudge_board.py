"""``NudgeBoard`` on PostgreSQL: the SQL functions every client calls, called here too.

The rules live in the schema file (``phoenix_active_nudges``, ``phoenix_mark_nudge_shown``);
this adapter keeps no copy of them, so the HTTP API answers what the bridge's SQL and
Supabase transports read.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Engine, bindparam, func, select, text

from src.adapters.sql.tables import UtcDateTime, nudges_sent
from src.adapters.sqlalchemy_nudge_offers import BY_ARRAY, displayed_offers
from src.application.ports.nudges import ActiveNudge

_ACTIVE = text(
    "SELECT nudge_id, nudge_type, target_app, message, variant "
    "FROM phoenix_active_nudges(:user_id, :app, :lang)"
)
_MARK = text("SELECT phoenix_mark_nudge_shown(:nudge_id, :app)")
_LAST_SHOWN = select(func.max(nudges_sent.c.shown_at, type_=UtcDateTime)).where(
    nudges_sent.c.nudge_id == bindparam("nudge_id")
)


class PostgresNudgeBoard:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def active_nudges(self, user_id: str, app: str, language: str) -> list[ActiveNudge]:
        # A transaction of its own: the function records the offers it returns.
        with self._engine.begin() as connection:
            rows = connection.execute(
                _ACTIVE, {"user_id": user_id, "app": app, "lang": language}
            ).all()
        return [ActiveNudge(*row) for row in rows]

    def mark_shown(self, nudge_id: str, app: str | None = None) -> datetime | None:
        with self._engine.begin() as connection:
            if not connection.execute(_MARK, {"nudge_id": nudge_id, "app": app}).scalar_one():
                return None
            last: datetime | None = connection.execute(
                _LAST_SHOWN, {"nudge_id": nudge_id}
            ).scalar_one()
        return last

    def displayed_offers(self, user_ids: Collection[str]) -> dict[tuple[str, str], str]:
        return displayed_offers(self._engine, user_ids, BY_ARRAY)
