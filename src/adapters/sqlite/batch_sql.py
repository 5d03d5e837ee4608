"""A batch's writes (``batch_writes``) on SQLite, as SQLAlchemy Core statements run per row.

The inbox and the read models run them on a SQLAlchemy connection; the journeys' recorder
runs the very same statements on eventsourcing's own ``sqlite3`` cursor, compiled once
(``CursorStatement``), inside the transaction that saves the journeys. In-process SQLite
pays no round trip per row, so ``executemany`` is as cheap as PostgreSQL's arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Executable, Table, bindparam, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from src.adapters.sql.batch_writes import RowWrite
from src.adapters.sql.tables import PRIVATE_SCHEMA

Execute = Callable[[Executable, Sequence[Mapping[str, Any]]], object]
"""Runs one statement once per parameter set: ``Connection.execute`` or a cursor's."""


_KEY = "row_key"


def write_rows(execute: Execute, writes: Sequence[RowWrite]) -> None:
    """Each write as one statement run once per row (its ``shared`` columns included)."""
    for write in writes:
        columns = (*write.columns, *write.shared)
        statement = _statement(write.table, write.key, columns, write.keep_existing)
        rows = [{**row, **write.shared} for row in write.rows] if write.shared else write.rows
        if write.key is None:
            execute(statement, rows)
        else:
            execute(statement, [{**row, _KEY: row[write.key]} for row in rows])


@lru_cache(maxsize=64)
def _statement(
    table: Table, key: str | None, columns: tuple[str, ...], keep_existing: bool
) -> Executable:
    if key is None:
        inserted = insert(table)
        return inserted.on_conflict_do_nothing() if keep_existing else inserted
    # The key's parameter is named apart: SQLAlchemy reserves a column's own name, in an
    # UPDATE run once per row, for the value that column is SET to.
    return (
        update(table)
        .where(table.c[key] == bindparam(_KEY))
        .values({name: bindparam(name) for name in columns if name != key})
    )


DIALECT = SQLiteDialect_pysqlite(paramstyle="named")


class CursorStatement:
    """A Core statement compiled once for ``sqlite3``, its parameters converted as
    SQLAlchemy would (the column types' own bind processors: UTC text timestamps, JSON)."""

    def __init__(self, statement: Executable, columns: Sequence[str]) -> None:
        if not isinstance(statement, ClauseElement):  # pragma: no cover - DML always is
            raise TypeError(type(statement).__name__)
        # eventsourcing's cursor is plain ``sqlite3``, out of reach of the engine's
        # ``schema_translate_map``: the private schema's tables are named where SQLite
        # has them, in its main database, as the engine's map does.
        # An INSERT names the columns its rows have, as ``Connection.execute`` would.
        compiled = statement.compile(
            dialect=DIALECT,
            column_keys=list(columns),
            schema_translate_map={PRIVATE_SCHEMA: "main"},
            render_schema_translate=True,
        )
        if not isinstance(compiled, SQLCompiler):  # pragma: no cover - DML always is
            raise TypeError(type(compiled).__name__)
        self._compiled = compiled
        self.sql = compiled.string
        self._processors = {
            name: processor
            for bind, name in compiled.bind_names.items()
            if (processor := bind.type.bind_processor(DIALECT)) is not None
        }

    def parameters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        params = dict(self._compiled.construct_params(dict(values)))
        for name, process in self._processors.items():
            if name in params:
                params[name] = process(params[name])
        return params


class CursorExecutor:
    """``Execute`` on a DB-API cursor (eventsourcing's), statements compiled at first use."""

    _compiled: dict[tuple[Executable, tuple[str, ...]], CursorStatement] = {}  # noqa: RUF012 - shared, append-only

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def __call__(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        key = (statement, tuple(rows[0]))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = CursorStatement(statement, key[1])
        self._cursor.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
