"""What erasing a user (``SqlAlchemyUserEraser``) does differently on PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import TextClause


class PostgresEraserStatements:
    """PostgreSQL's part of a user's erasure."""

    def __init__(self, events_table: str) -> None:
        # Nothing to rewind: notification ids come from a sequence and are never issued
        # again, so deleting the highest rows cannot hide later events from the projection.
        self.rewind: TextClause | None = None

    def stream(self, journey_id: UUID) -> dict[str, Any]:
        """The journey's id as the ``uuid`` its stored events are keyed by."""
        return {"id": journey_id}
