"""Turns ``DATABASE_URL`` into eventsourcing's ``env=`` mapping for the same database.

On PostgreSQL the journeys' tables go to the private schema that ``migrate`` creates, out
of ``public``, which Supabase's REST API serves to every holder of the anon key.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from src.adapters.sql_database import is_transaction_pooler, sqlalchemy_url, store_kind
from src.adapters.sql_tables import PRIVATE_SCHEMA


def eventsourcing_env(database_url: str) -> dict[str, str]:
    if store_kind(database_url) == "sqlite":
        return {
            "PERSISTENCE_MODULE": "src.adapters.eventsourcing_sqlite:BatchSQLiteFactory",
            "SQLITE_DBNAME": str(sqlalchemy_url(database_url).database),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    pooled = is_transaction_pooler(sqlalchemy_url(database_url))
    return {
        "PERSISTENCE_MODULE": (
            "src.adapters.pooler_postgres:TransactionPoolerFactory"
            if pooled
            else "src.adapters.eventsourcing_postgres:BatchInsertFactory"
        ),
        "POSTGRES_DBNAME": url.database or "postgres",
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_SCHEMA": PRIVATE_SCHEMA,
    }
