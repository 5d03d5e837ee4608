"""The offers a user was shown, on either store: the worker detecting one of those nudges
keeps the wording the user saw (``NudgeBoard.displayed_offers``)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, bindparam, exists, select

from src.adapters.sql.database import read_connection
from src.adapters.sql.tables import nudge_offers, nudges_sent

_DISPLAYED = select(
    nudge_offers.c.user_id, nudge_offers.c.nudge_type, nudge_offers.c.variant
).where(
    nudge_offers.c.user_id.in_(bindparam("users", expanding=True)),
    exists().where(nudges_sent.c.nudge_id == nudge_offers.c.nudge_id),
)


def displayed_offers(engine: Engine, user_ids: Collection[str]) -> dict[tuple[str, str], str]:
    """Per (user, nudge type) of these users, the variant of the offer they were shown."""
    if not user_ids:
        return {}
    with read_connection(engine) as connection:
        rows = connection.execute(_DISPLAYED, {"users": list(user_ids)}).all()
    return {(row.user_id, row.nudge_type): row.variant for row in rows}
