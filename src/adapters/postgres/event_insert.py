"""The PostgreSQL insert of new events: one statement of the same text for any number.

A multi-row ``INSERT … VALUES (…), (…)`` grows with the batch, so the driver parses its
placeholders afresh for every request (psycopg caches the parse of short statements
only), and adapts each of its values one by one in Python; together they cost more than
everything else an ingest does. Here the rows travel as one JSON document, encoded in
one call, that ``json_to_recordset`` turns back into rows: one parameter whatever the
count, parsed once and cached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Text, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import JSON, insert
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.types import TypeEngine

from src.adapters.sql.tables import events

COLUMNS: dict[str, TypeEngine[Any]] = {
    name: events.c[name].type
    for name in (
        "event_type",
        "app_source",
        "user_id",
        "payload",
        "timestamp",
        "received_at",
        "idempotency_key",
        "event_hash",
    )
}
"""The columns a new event fills, typed as the table declares them."""


def _statement() -> ReturningInsert[str]:
    rows = cast(bindparam("rows", type_=Text), JSON)
    new = (
        func.json_to_recordset(rows)
        .table_valued(*(column(name, type_) for name, type_ in COLUMNS.items()))
        .render_derived(with_types=True)
    )
    return (
        insert(events)
        .from_select(list(COLUMNS), select(*(new.c[name] for name in COLUMNS)))
        .on_conflict_do_nothing(index_elements=["event_hash"])
        .returning(events.c.event_hash)
    )


INSERT_NEW_EVENTS = _statement()
"""Inserts the rows of ``parameters(rows)``, skipping a hash already stored (or repeated
among them: the first wins); returns the hash of each row it inserted."""


def parameters(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The rows (dicts keyed by ``COLUMNS``) as the statement's one parameter."""
    return {"rows": json.dumps([_jsonable(row) for row in rows])}


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "timestamp": row["timestamp"].isoformat(),
        "received_at": row["received_at"].isoformat(),
    }
