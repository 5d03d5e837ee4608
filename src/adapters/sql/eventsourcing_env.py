"""Turns ``DATABASE_URL`` into eventsourcing's ``env=`` mapping for the same database.

On PostgreSQL the journeys' tables go to the private schema that ``migrate`` creates, out
of ``public``, which Supabase's REST API serves to every holder of the anon key.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from sqlalchemy.engine import make_url

from src.adapters.sql.database import is_transaction_pooler, sqlalchemy_url, store_kind
from src.adapters.sql.tables import PRIVATE_SCHEMA
from src.application.errors import PersistenceModuleInvalidError

HONOURS_BATCHES = "honours_batches"
"""The class attribute (True) of a recorder whose ``insert_events`` writes the
``BatchWrites`` given to ``save(..., batch=...)`` in the journeys' own transaction."""


def eventsourcing_env(database_url: str) -> dict[str, str]:
    if store_kind(database_url) == "sqlite":
        return {
            "PERSISTENCE_MODULE": "src.adapters.sqlite.recorder:BatchSQLiteFactory",
            "SQLITE_DBNAME": str(sqlalchemy_url(database_url).database),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    pooled = is_transaction_pooler(sqlalchemy_url(database_url))
    return {
        "PERSISTENCE_MODULE": (
            "src.adapters.postgres.pooler:TransactionPoolerFactory"
            if pooled
            else "src.adapters.postgres.recorder:BatchInsertFactory"
        ),
        "POSTGRES_DBNAME": url.database or "postgres",
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_SCHEMA": PRIVATE_SCHEMA,
    }


def require_batch_recorder(application: Application[UUID]) -> None:
    """Refuse a store whose recorder would ignore ``save(..., batch=...)``.

    A batch's outcome, its applied events and its read-model rows travel to the recorder
    as that keyword argument; eventsourcing's own recorders accept any keyword and drop
    it, so with one of them the journeys would be saved and the rest silently lost (the
    events never marked, nothing to keep them from counting twice). eventsourcing lets
    the process environment choose another recorder (``PERSISTENCE_MODULE``, or
    ``PHOENIXJOURNEYS_PERSISTENCE_MODULE``, which outranks the one set here).
    """
    recorder: Any = application.recorder
    if getattr(type(recorder), HONOURS_BATCHES, False) is True:
        return
    module = application.env.get("PERSISTENCE_MODULE") or "eventsourcing's default"
    raise PersistenceModuleInvalidError(
        f"PERSISTENCE_MODULE {module!r} gives the journeys {type(recorder).__name__}, which "
        "does not save a batch's outcome with its journeys; unset it (DATABASE_URL "
        "chooses the flywheel's own)"
    )
