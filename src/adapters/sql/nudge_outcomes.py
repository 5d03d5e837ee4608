"""What became of each nudge (exposed, converted, organic), read from each store's own
definition: the view ``phoenix_nudge_outcomes`` on PostgreSQL, the rules of
``src.application.nudge_policy`` on SQLite (registered in every connection as SQL
functions, so that the figures are counted by the same statements on both stores).

Either way one row per nudge with ``nudge_type``, ``variant``, ``detected_at``,
``reached_at``, ``exposed_at`` and 0/1 flags ``exposed``, ``converted``, ``organic``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Engine, Integer, Subquery, case, cast, column, func, select, table
from sqlalchemy.types import Text, TypeEngine

from src.adapters.sql.statements import for_store
from src.adapters.sql.tables import UtcDateTime, nudge_settings, nudges, nudges_sent
from src.application.nudge_policy import exposed_at, outcome

_EXPOSED_AT = "phoenix_exposed_at"
_OUTCOME = "phoenix_nudge_outcome"

_VIEW_COLUMNS: dict[str, TypeEngine[Any]] = {
    "nudge_type": Text(),
    "variant": Text(),
    "detected_at": UtcDateTime(),
    "reached_at": UtcDateTime(),
    "exposed_at": UtcDateTime(),
    "converted": Boolean(),
    "organic": Boolean(),
}
_VIEW = table(
    "phoenix_nudge_outcomes", *(column(name, type_) for name, type_ in _VIEW_COLUMNS.items())
)


def nudge_outcomes(engine: Engine) -> Subquery:
    """The store's outcome of every nudge, as a subquery to count from."""
    return for_store(engine, postgres=_from_the_view, sqlite=_from_the_rules)


def _from_the_view() -> Subquery:
    """PostgreSQL: the view ``phoenix_nudge_outcomes`` is the definition."""
    return select(
        _VIEW.c.nudge_type,
        _VIEW.c.variant,
        _VIEW.c.detected_at,
        _VIEW.c.reached_at,
        _VIEW.c.exposed_at,
        case((_VIEW.c.exposed_at.is_not(None), 1), else_=0).label("exposed"),
        cast(_VIEW.c.converted, Integer).label("converted"),
        cast(_VIEW.c.organic, Integer).label("organic"),
    ).subquery()


def _from_the_rules() -> Subquery:
    """SQLite: the rules of ``nudge_policy``, registered as SQL functions."""
    first = (
        select(nudges_sent.c.nudge_id, func.min(nudges_sent.c.shown_at).label("first_shown"))
        .group_by(nudges_sent.c.nudge_id)
        .subquery()
    )
    days = select(nudge_settings.c.attribution_days).scalar_subquery()
    shown, reached = first.c.first_shown, nudges.c.converted_at
    exposure = getattr(func, _EXPOSED_AT)(shown, reached, type_=UtcDateTime)
    verdict = getattr(func, _OUTCOME)(shown, reached, days, type_=Text)
    return (
        select(
            nudges.c.nudge_type,
            nudges.c.variant,
            nudges.c.detected_at,
            reached.label("reached_at"),
            exposure.label("exposed_at"),
            case((exposure.is_not(None), 1), else_=0).label("exposed"),
            case((verdict == "converted", 1), else_=0).label("converted"),
            case((verdict == "organic", 1), else_=0).label("organic"),
        )
        .select_from(nudges.outerjoin(first, first.c.nudge_id == nudges.c.nudge_id))
        .subquery()
    )


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """The rules of ``nudge_policy`` as SQL functions of a SQLite connection.

    SQLite hands timestamps over as the text it stores (UTC, no zone); the exposure
    comes back as that very text, so that it compares with the others as before.
    """
    dbapi_connection.create_function(_EXPOSED_AT, 2, _sqlite_exposed_at, deterministic=True)
    dbapi_connection.create_function(_OUTCOME, 3, _sqlite_outcome, deterministic=True)


def _parsed(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _sqlite_exposed_at(first_shown: str | None, reached_at: str | None) -> str | None:
    return first_shown if exposed_at(_parsed(first_shown), _parsed(reached_at)) else None


def _sqlite_outcome(
    first_shown: str | None, reached_at: str | None, days: int | None
) -> str | None:
    if days is None:
        raise ValueError("no nudge settings in the store: it was never started")
    return outcome(_parsed(first_shown), _parsed(reached_at), int(days))
