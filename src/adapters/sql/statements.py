"""Which store's statements an adapter runs, chosen once, when the adapter is built.

Each adapter that speaks to both stores takes a statements object (one class per store,
in ``src.adapters.postgres`` and ``src.adapters.sqlite``) and only executes what it is
given, so the difference between the stores is written down in one place per store
rather than tested again in every method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine

P = TypeVar("P")
S = TypeVar("S")


def for_store(engine: Engine, *, postgres: Callable[[], P], sqlite: Callable[[], S]) -> P | S:
    """The statements of the engine's store: ``postgres()`` on PostgreSQL, else ``sqlite()``."""
    return postgres() if engine.dialect.name == "postgresql" else sqlite()
