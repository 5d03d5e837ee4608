"""The projection's statements (``SqlProjections``) on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Connection

from src.adapters.postgres import batch_sql
from src.adapters.sql.batch_writes import RowWrite


class PostgresProjectionStatements:
    """The views' rows as one ``unnest`` statement per write; commits without waiting."""

    def begin(self, connection: Connection) -> None:
        """The views and the tracking position commit or vanish together, and what they
        are made of is stored durably elsewhere: a commit lost in a crash is pulled again
        from the position it leaves. So the commit need not wait for the WAL flush, which
        batch saves waiting on the tracking row would otherwise wait for too."""
        connection.exec_driver_sql(batch_sql.ASYNC_COMMIT)

    def write_rows(self, connection: Connection, writes: list[RowWrite]) -> None:
        batch_sql.write_rows(connection.exec_driver_sql, writes)
