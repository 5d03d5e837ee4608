"""``migrate`` brings the nudges table an older version made up to the rank column: the
nudges already there are unranked (0) and still shown; new ones are ranked."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from src.adapters.sql.tables import nudges
from src.application.errors import SchemaMissingError
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings


def letters(user: str, n: int) -> list[dict[str, str]]:
    return [
        {
            "event_type": "letter.generated",
            "app_source": "phoenix-letters",
            "user_id": user,
            "idempotency_key": f"{user}-{i}",
        }
        for i in range(n)
    ]


def test_migrate_adds_the_rank_column_to_an_older_nudges_table(store_url: str) -> None:
    container = open_flywheel(make_settings(store_url), migrate=True)
    try:
        container.ingestion().publish(letters("old", 1))
        asyncio.run(container.processor().drain())
        with container.engine().begin() as connection:
            connection.exec_driver_sql("ALTER TABLE phoenix_nudges DROP COLUMN rank")
    finally:
        close_flywheel(container)
    if store_url.startswith("postgresql"):
        # A shared PostgreSQL changes only on `migrate`; until then, the worker says so.
        with pytest.raises(SchemaMissingError, match=r"phoenix_nudges\.rank.*migrate"):
            open_flywheel(make_settings(store_url))
    container = open_flywheel(make_settings(store_url), migrate=True)
    try:
        [old] = container.board().active_nudges("old", "phoenix-letters", "fr")
        assert old.nudge_type == "letters_to_cv"
        container.ingestion().publish(letters("new", 5))
        asyncio.run(container.processor().drain())
        with container.engine().connect() as connection:
            old_rank = connection.execute(
                select(nudges.c.rank).where(nudges.c.user_id == "old")
            ).scalar_one()
            new = connection.execute(
                select(nudges.c.nudge_type, nudges.c.rank).where(nudges.c.user_id == "new")
            ).all()
        [shown] = container.board().active_nudges("new", "phoenix-letters", "fr")
    finally:
        close_flywheel(container)
    assert old_rank == 0.0
    assert len(new) == 2
    assert all(rank > 0 for _, rank in new)
    assert shown.nudge_type == max(new, key=lambda row: row[1])[0]
