"""The projection's statements (``SqlProjections``) on SQLite."""

from __future__ import annotations

from sqlalchemy import Connection

from src.adapters.sql.batch_writes import RowWrite
from src.adapters.sqlite import batch_sql


class SqliteProjectionStatements:
    """The views' rows one Core statement each; the commit is SQLite's own."""

    def begin(self, connection: Connection) -> None:
        """Nothing to set: the transaction holds the whole database's write lock."""

    def write_rows(self, connection: Connection, writes: list[RowWrite]) -> None:
        batch_sql.write_rows(connection.execute, writes)
