"""Which store's statements an adapter runs, chosen once, when the adapter is built.

Each adapter that speaks to both stores takes a statements object (one class per store,
in ``src.adapters.postgres`` and ``src.adapters.sqlite``) and only executes what it is
given, so the difference between the stores is written down in one place per store
rather than tested again in every method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine, Table
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

P = TypeVar("P")
S = TypeVar("S")


def for_store(engine: Engine, *, postgres: Callable[[], P], sqlite: Callable[[], S]) -> P | S:
    """The statements of the engine's store: ``postgres()`` on PostgreSQL, else ``sqlite()``."""
    return postgres() if engine.dialect.name == "postgresql" else sqlite()


def upsert_of(engine: Engine) -> Callable[[Table], PostgresInsert | SqliteInsert]:
    """The store's own ``INSERT`` construct, which has ``on_conflict_do_update`` and
    ``on_conflict_do_nothing``: an upsert's clauses are the same on both stores, only the
    construct that renders them differs."""
    return for_store(engine, postgres=lambda: postgres_insert, sqlite=lambda: sqlite_insert)
