"""``EventHistory`` on SQLAlchemy: processed events read back by keyset pages.

Each page is one short read (its own connection and transaction) of at most
``batch_size`` rows, ordered by ``(user_id, timestamp, id)`` and resumed after the last
row seen, so the ``(user_id, timestamp)`` index serves it and no long snapshot or lock is
held while the caller replays: workers claiming and saving meanwhile never wait on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Engine, literal, or_, select, tuple_

from src.adapters.sql.database import read_connection
from src.adapters.sql.tables import events, nudges
from src.application.ports.event_history import HistoryEvent

DEFAULT_BATCH_SIZE = 2_000


class SqlAlchemyEventHistory:
    def __init__(self, engine: Engine, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self._engine = engine
        self._batch_size = batch_size

    def processed_since(
        self, since: datetime, event_types: Sequence[str], apps: Sequence[str]
    ) -> Iterator[Sequence[HistoryEvent]]:
        c = events.c
        chosen = or_(c.event_type.in_(list(event_types)), c.app_source.in_(list(apps)))
        base = (
            select(c.id, c.user_id, c.event_type, c.app_source, c.timestamp, c.payload)
            .where(c.status == "processed", c.timestamp >= since, chosen)
            .order_by(c.user_id, c.timestamp, c.id)
            .limit(self._batch_size)
        )
        after: tuple[str, datetime, int] | None = None
        while True:
            query = base
            if after is not None:
                key = (c.user_id, c.timestamp, c.id)
                # Each value bound with its column's type: the store's own time encoding.
                resume = tuple_(*(literal(v, col.type) for v, col in zip(after, key, strict=True)))
                query = query.where(tuple_(*key) > resume)
            with read_connection(self._engine) as connection, connection.begin():
                rows = connection.execute(query).all()
            if not rows:
                return
            yield [
                HistoryEvent(
                    user_id=row.user_id,
                    event_type=row.event_type,
                    app_source=row.app_source,
                    timestamp=row.timestamp,
                    payload=row.payload or {},
                )
                for row in rows
            ]
            last = rows[-1]
            after = (last.user_id, last.timestamp, last.id)
            if len(rows) < self._batch_size:
                return

    def users_with_nudge(self, nudge_type: str, user_ids: Sequence[str]) -> set[str]:
        if not user_ids:
            return set()
        with read_connection(self._engine) as connection:
            found = connection.execute(
                select(nudges.c.user_id).where(
                    nudges.c.nudge_type == nudge_type, nudges.c.user_id.in_(list(user_ids))
                )
            ).scalars()
            return {str(user) for user in found}
