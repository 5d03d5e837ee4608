"""A Core statement compiled once and run as the driver's SQL, for the hottest statements.

SQLAlchemy's ``execute`` of a Core statement looks its compiled form up by cache key,
renders its expanding ``IN`` lists and runs every bound and result value through its
type's processors, on every call: for the claim of a batch that is about a quarter of the
worker's time in it. Compiled here once, with the ``IN`` lists rendered and the constant
values processed, only the few values that change are processed per call. Results come
back as the driver gives them (no result processors): the caller reads them so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement


class DriverStatement:
    def __init__(
        self, statement: ClauseElement, dialect: Dialect, examples: Mapping[str, Any]
    ) -> None:
        """``examples``: a value of each parameter given at execution (any value of its
        type: the statement is compiled with them, and they are replaced on every call)."""
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))  # a DML or a query
        expanded = compiled.construct_expanded_state(dict(examples))
        processors = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := dialect.type_descriptor(bind.type).bind_processor(dialect))
        }
        processors.update(expanded.processors)  # the rendered ``IN`` lists' values
        self.sql: str = expanded.statement
        self._constants = {
            key: processors[key](value) if key in processors else value
            for key, value in expanded.parameters.items()
            if key not in examples
        }
        self._processors = {key: processors[key] for key in examples if key in processors}

    def execute(self, connection: Connection, parameters: Mapping[str, Any]) -> CursorResult[Any]:
        values = dict(self._constants)
        for key, value in parameters.items():
            processor = self._processors.get(key)
            values[key] = value if processor is None else processor(value)
        return connection.exec_driver_sql(self.sql, values)
