"""The offers a user was shown, on either store: the worker detecting one of those nudges
keeps the wording the user saw (``NudgeBoard.displayed_offers``).

A batch's users go as one array on PostgreSQL (``user_id = ANY(:users)``): one statement
text whatever the batch's size, so SQLAlchemy compiles it once and psycopg parses it
once, where an ``IN`` list is expanded and rendered anew for every batch (the worker's
CPU for a batch of 100 users: 790-990 us with the list, 280-390 with the array). SQLite,
which has no arrays, keeps the list.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Text, any_, bindparam, exists, select
from sqlalchemy.dialects.postgresql import ARRAY

from src.adapters.sql.database import read_connection
from src.adapters.sql.tables import nudge_offers, nudges_sent


def _displayed(users: ColumnElement[bool]) -> Select[Any]:
    return select(nudge_offers.c.user_id, nudge_offers.c.nudge_type, nudge_offers.c.variant).where(
        users, exists().where(nudges_sent.c.nudge_id == nudge_offers.c.nudge_id)
    )


BY_LIST = _displayed(nudge_offers.c.user_id.in_(bindparam("users", expanding=True)))
BY_ARRAY = _displayed(nudge_offers.c.user_id == any_(bindparam("users", type_=ARRAY(Text))))


def displayed_offers(
    engine: Engine, user_ids: Collection[str], query: Select[Any] = BY_LIST
) -> dict[tuple[str, str], str]:
    """Per (user, nudge type) of these users, the variant of the offer they were shown.

    ``query`` is the store's: ``BY_ARRAY`` on PostgreSQL, ``BY_LIST`` elsewhere.
    """
    if not user_ids:
        return {}
    with read_connection(engine) as connection:
        rows = connection.execute(query, {"users": list(user_ids)}).all()
    return {(row.user_id, row.nudge_type): row.variant for row in rows}
