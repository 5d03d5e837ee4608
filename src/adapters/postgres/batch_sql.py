"""A batch's writes (``batch_writes``) on PostgreSQL, as one array statement per write.

The inbox (through SQLAlchemy's ``exec_driver_sql``) and the journey recorder (on its own
psycopg cursor, inside the transaction that saves the journeys) send the same statements,
so the batch outcome and the read-model rows can be written where it is cheapest.

Every row travels in column arrays zipped by ``unnest``: a statement per table instead of
one per row, and parameters in psycopg's binary format (``%(name)b``), because text-format
arrays are escaped element by element with regular expressions. Also the worker's own
transaction settings (``ASYNC_COMMIT``, ``CLAIM_TURN``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Dialect, Table
from sqlalchemy.dialects import registry

from src.adapters.sql.batch_writes import RowWrite

Execute = Callable[[str, dict[str, Any]], object]
"""``cursor.execute`` or ``connection.exec_driver_sql``: psycopg placeholders either way."""

_DIALECT: Dialect = registry.load("postgresql.psycopg")()


def write_rows(execute: Execute, writes: Sequence[RowWrite]) -> None:
    """Each write as one statement over its rows' columns, whatever the number of rows."""
    for write in writes:
        columns = write.columns
        shared = tuple(write.shared)
        statement = _statement(write.table, write.key, columns, shared, write.keep_existing)
        json_columns = _json_columns(write.table)
        parameters: dict[str, Any] = {}
        for name in columns:
            values = [row[name] for row in write.rows]
            if name in json_columns:
                values = [None if value is None else Jsonb(value) for value in values]
            parameters[name] = values
        for name, value in write.shared.items():
            json = value is not None and name in json_columns
            parameters[name] = Jsonb(value) if json else value
        execute(statement, parameters)


@lru_cache(maxsize=32)
def _json_columns(table: Table) -> frozenset[str]:
    """The columns whose values are wrapped for psycopg, which adapts no dict or list as
    JSON; looked up once per table, not per value."""
    return frozenset(column.key for column in table.columns if isinstance(column.type, JSON))


@lru_cache(maxsize=64)
def _statement(
    table: Table,
    key: str | None,
    columns: tuple[str, ...],
    shared: tuple[str, ...],
    keep_existing: bool,
) -> str:
    """``INSERT … SELECT`` or ``UPDATE … FROM`` the column arrays zipped by ``unnest``; a
    ``shared`` column's one value is a parameter of its own."""
    quote = _DIALECT.identifier_preparer.quote

    def sql_type(name: str) -> str:
        return str(table.c[name].type.compile(dialect=_DIALECT))

    arrays = ", ".join(f"%({name})b::{sql_type(name)}[]" for name in columns)
    names = ", ".join(quote(name) for name in columns)
    values = {name: f"%({name})s::{sql_type(name)}" for name in shared}
    target = _DIALECT.identifier_preparer.format_table(table)
    if key is None:
        conflict = " ON CONFLICT DO NOTHING" if keep_existing else ""
        every = ", ".join(quote(name) for name in (*columns, *shared))
        selected = ", ".join(["r.*", *values.values()])
        return (
            f"INSERT INTO {target} ({every}) SELECT {selected}"  # noqa: S608 - names from sql.tables
            f" FROM unnest({arrays}) AS r({names}){conflict}"
        )
    assignments = ", ".join(
        [
            *(f"{quote(n)} = r.{quote(n)}" for n in columns if n != key),
            *(f"{quote(n)} = {value}" for n, value in values.items()),
        ]
    )
    return (
        f"UPDATE {target} AS t SET {assignments}"  # noqa: S608 - names from sql.tables
        f" FROM unnest({arrays}) AS r({names}) WHERE t.{quote(key)} = r.{quote(key)}"
    )


ASYNC_COMMIT = "SET LOCAL synchronous_commit = off"
"""For the worker's own transactions: claims, the commit that saves and marks a batch, and
the pull projection's (views and tracking position, rebuilt from the position it leaves).

Their commit need not wait for the WAL flush. A crash can only lose such a transaction
whole: a lost claim leaves its events claimable, a lost save leaves them ``processing``
until the lease brings them back, and the batch is done again with nothing counted twice.
Events themselves are still committed durably, by whoever publishes them.
"""

CLAIM_TURN = (
    "SET LOCAL lock_timeout = '1s';"
    " SET LOCAL idle_in_transaction_session_timeout = '5s';"
    " SELECT pg_advisory_xact_lock(4262024001)"
)
"""Taken first in a claim's transaction, so claims run one at a time across workers.

The claim leaves alone users whose events another batch holds, but two claims running at
once cannot see each other's batch: both took events of the same users, and one of the
two batches then met a version conflict at save and was folded again (a sizeable share
of batches with two workers). One at a time, each claim sees every batch claimed before
it. A claim is a small part of a batch's time, so waiting for one's turn costs little
(docs/benchmarks.md has the figures).

The key is arbitrary, this lock's alone. A turn not granted within a second means the
worker holding it is stuck mid-claim (stopped, or cut off): the claim then goes ahead
without its turn rather than stall every worker (``TURN_NOT_GRANTED``). And the server
ends a claim's session that sits idle in its transaction for 5 s, so a stuck worker
gives the turn back: its uncommitted claim leaves the events where they were.
"""
TURN_NOT_GRANTED = "55P03"
"""SQLSTATE ``lock_not_available``: ``CLAIM_TURN``'s lock timeout expired."""
