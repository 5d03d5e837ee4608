"""eventsourcing's PostgreSQL persistence behind a transaction pooler (Supabase, port 6543).

A transaction pooler gives each transaction to whichever server connection is free, so a
statement prepared on one connection is unknown on the next ("prepared statement
_pg3_0 does not exist"). eventsourcing asks psycopg to prepare its statements; psycopg
prepares nothing on a connection whose ``prepare_threshold`` is None, whatever the call
asks, so every pooled connection gets that setting when it is opened.
"""

from __future__ import annotations

from eventsourcing.utils import Environment, EnvType

from src.adapters.postgres.recorder import BatchInsertFactory


class TransactionPoolerFactory(BatchInsertFactory):
    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        # The pool's connection arguments (public; eventsourcing sets its password there
        # too) go to psycopg's ``connect``, which takes ``prepare_threshold``. The pool is
        # not open yet, so every connection it opens gets it.
        connect_arguments = self.datastore.pool.kwargs
        if not isinstance(connect_arguments, dict):  # pragma: no cover - eventsourcing's is
            raise TypeError(type(connect_arguments).__name__)
        connect_arguments["prepare_threshold"] = None
