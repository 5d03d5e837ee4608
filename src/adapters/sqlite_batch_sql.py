"""A batch's writes on SQLite, as SQLAlchemy Core statements run row by row.

The inbox and the read models run them on a SQLAlchemy connection; the journeys' recorder
runs the very same statements on eventsourcing's own ``sqlite3`` cursor, compiled once
(``CursorStatement``), inside the transaction that saves the journeys. In-process SQLite
pays no round trip per row, so ``executemany`` is as cheap as PostgreSQL's arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, bindparam, case, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from src.adapters.sql_tables import (
    ERROR_LIMIT,
    PRIVATE_SCHEMA,
    applied_events,
    events,
    journey_entries,
    nudges,
)
from src.application.ports import AppliedEvent, BatchOutcome, ReadModelChanges

Execute = Callable[[Executable, Sequence[Mapping[str, Any]]], object]
"""Runs one statement once per parameter set: ``Connection.execute`` or a cursor's."""

_MARK_FINISHED = (
    update(events)
    .where(events.c.id == bindparam("event_id"))
    .values(
        status=bindparam("new_status"),
        # A duplicate keeps the error it may have had; a processed event has none.
        ai_processing_error=case(
            (bindparam("new_status") == "duplicate", events.c.ai_processing_error), else_=None
        ),
        processed_at=bindparam("now"),
        locked_until=None,
        locked_by=None,
    )
)
_MARK_FAILED = (
    update(events)
    .where(events.c.id == bindparam("event_id"))
    .values(
        status=bindparam("new_status"),
        locked_until=bindparam("retry_at"),
        locked_by=None,
        ai_processing_error=bindparam("error"),
    )
)
_INSERT_ENTRIES = insert(journey_entries).on_conflict_do_nothing()
_INSERT_NUDGES = insert(nudges).on_conflict_do_nothing()
_CONVERT_NUDGES = (
    update(nudges)
    .where(nudges.c.nudge_id == bindparam("converted_id"))
    .values(status="converted", converted_at=bindparam("when_converted"))
)
# A plain insert: a pair already applied must fail the transaction, not be skipped.
_INSERT_APPLIED = insert(applied_events)
STATEMENTS = (
    _MARK_FINISHED,
    _MARK_FAILED,
    _INSERT_ENTRIES,
    _INSERT_NUDGES,
    _CONVERT_NUDGES,
    _INSERT_APPLIED,
)


def mark_outcome(execute: Execute, outcome: BatchOutcome) -> None:
    finished = [
        *(
            {"event_id": i, "new_status": "processed", "now": outcome.now}
            for i in outcome.processed
        ),
        *(
            {"event_id": i, "new_status": "duplicate", "now": outcome.now}
            for i in outcome.duplicates
        ),
    ]
    if finished:
        execute(_MARK_FINISHED, finished)
    if outcome.failures:
        execute(
            _MARK_FAILED,
            [
                {
                    "event_id": failure.event_id,
                    "new_status": "failed" if failure.retry_at is not None else "dead",
                    "retry_at": failure.retry_at,
                    "error": failure.error[:ERROR_LIMIT],
                }
                for failure in outcome.failures
            ],
        )


def record_applied(execute: Execute, applied: Sequence[AppliedEvent]) -> None:
    """Raises ``sqlite3.IntegrityError`` when a pair is there already."""
    if applied:
        execute(_INSERT_APPLIED, [event._asdict() for event in applied])


def write_read_models(execute: Execute, changes: ReadModelChanges) -> None:
    """Idempotent: an entry or a nudge already there is kept, a conversion set again."""
    if changes.entries:
        execute(_INSERT_ENTRIES, [entry.__dict__ for entry in changes.entries])
    if changes.nudges:
        execute(_INSERT_NUDGES, [nudge.__dict__ for nudge in changes.nudges])
    if changes.conversions:
        execute(
            _CONVERT_NUDGES,
            [
                {"converted_id": nudge_id, "when_converted": converted_at}
                for nudge_id, converted_at in changes.conversions
            ],
        )


DIALECT = SQLiteDialect_pysqlite(paramstyle="named")


class CursorStatement:
    """A Core statement compiled once for ``sqlite3``, its parameters converted as
    SQLAlchemy would (the column types' own bind processors: UTC text timestamps, JSON)."""

    def __init__(self, statement: Executable) -> None:
        if not isinstance(statement, ClauseElement):  # pragma: no cover - DML always is
            raise TypeError(type(statement).__name__)
        # eventsourcing's cursor is plain ``sqlite3``, out of reach of the engine's
        # ``schema_translate_map``: the private schema's tables are named where SQLite
        # has them, in its main database, as the engine's map does.
        compiled = statement.compile(
            dialect=DIALECT,
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

    _compiled: dict[Executable, CursorStatement] = {}  # noqa: RUF012 - shared, append-only

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def __call__(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = CursorStatement(statement)
        self._cursor.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
