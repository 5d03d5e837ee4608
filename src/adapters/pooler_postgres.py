"""eventsourcing's PostgreSQL persistence behind a transaction pooler (Supabase, port 6543).

A transaction pooler gives each transaction to whichever server connection is free, so a
statement prepared on one connection is unknown on the next ("prepared statement
_pg3_0 does not exist"). eventsourcing asks psycopg to prepare its statements; psycopg
prepares nothing on a connection whose ``prepare_threshold`` is None, whatever the call
asks, so every pooled connection gets that setting when it is opened.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import Environment, EnvType

from src.adapters.eventsourcing_postgres import BatchInsertFactory


class TransactionPoolerFactory(BatchInsertFactory):
    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        # psycopg_pool keeps the per-connection hook here and offers no public setter;
        # the pool is not open yet, so no connection escapes the wrapper.
        configure = pool._configure

        def without_prepared_statements(connection: Any) -> None:
            connection.prepare_threshold = None
            if configure is not None:
                configure(connection)

        pool._configure = without_prepared_statements
