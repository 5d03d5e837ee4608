"""What erasing a user (``SqlAlchemyUserEraser``) does differently on SQLite."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import TextClause, text

from src.adapters.sql.tables import projection_tracking as tracking
from src.application.read_model_changes import PROJECTION_NAME

# SQLite's notification ids are rowids, and a new row takes the highest rowid + 1: once
# the highest rows are deleted, the next events reuse their ids, which the projection has
# passed already, and would never be projected. Every row left up to the highest one was
# projected (the ones above it were the user's), so the position moves back to it. The
# projection's row only: the count of erasures lives in the same table.
_REWIND = (
    f"UPDATE {tracking.name}"  # noqa: S608 - names from sql.tables (SQLite: no schema)
    " SET position = min(position, (SELECT coalesce(max(rowid), 0) FROM {table}))"
    f" WHERE name = '{PROJECTION_NAME}'"
)


class SqliteEraserStatements:
    """SQLite's part of a user's erasure, for the journeys' events table (quoted)."""

    def __init__(self, events_table: str) -> None:
        self.rewind: TextClause | None = text(_REWIND.format(table=events_table))

    def stream(self, journey_id: UUID) -> dict[str, Any]:
        """The journey's id as the 32 hex digits its stored events are keyed by."""
        return {"id": journey_id.hex}
