"""``JourneyHistory`` over eventsourcing's own tables, on SQLite and PostgreSQL.

Reads the recorder's tables directly (their layout is eventsourcing's: originator_id,
originator_version, topic, state); the table names (and, on PostgreSQL, their schema)
come from the application's own recorders, so they follow whatever eventsourcing chose.
PostgreSQL stores ids as ``uuid``, SQLite as 32 hex digits. Each query takes the whole
batch as one array parameter (``unnest`` on PostgreSQL, ``json_each`` on SQLite), so its
text is the same for every batch and each journey is found through the primary key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from sqlalchemy import Engine, TextClause, text

from src.adapters.sql.database import read_connection

_POSTGRES_SNAPSHOTS = """
SELECT DISTINCT ON (s.originator_id) s.originator_id, s.originator_version, s.topic, s.state
FROM {snapshots} AS s
WHERE s.originator_id = ANY(%(ids)b::uuid[])
ORDER BY s.originator_id, s.originator_version DESC
"""
# A LATERAL subquery kept apart by OFFSET 0 (no pull-up into a join), so each journey is
# an index range scan whatever the statistics say: a plain join was planned as a hash
# join over the whole events table, once per batch, which made long drains quadratic.
_POSTGRES_EVENTS = """
SELECT e.originator_id, e.originator_version, e.topic, e.state
FROM unnest(%(ids)b::uuid[], %(versions)b::bigint[]) AS v(id, version)
CROSS JOIN LATERAL (
    SELECT * FROM {events} AS x
    WHERE x.originator_id = v.id AND x.originator_version > v.version
    OFFSET 0
) AS e
ORDER BY e.originator_id, e.originator_version
"""
_SQLITE_SNAPSHOTS = """
SELECT s.originator_id, s.originator_version, s.topic, s.state
FROM json_each(:ids) AS j
JOIN {snapshots} AS s ON s.originator_id = j.value
WHERE s.originator_version = (
    SELECT max(originator_version) FROM {snapshots} WHERE originator_id = j.value
)
"""
_SQLITE_EVENTS = """
SELECT e.originator_id, e.originator_version, e.topic, e.state
FROM json_each(:pairs) AS j
JOIN {events} AS e
  ON e.originator_id = json_extract(j.value, '$[0]')
 AND e.originator_version > json_extract(j.value, '$[1]')
ORDER BY e.originator_id, e.originator_version
"""


class SqlAlchemyJourneyHistory:
    def __init__(
        self,
        engine: Engine,
        events_table: str,
        snapshots_table: str,
        schema: str | None = None,
    ) -> None:
        self._engine = engine
        quote = engine.dialect.identifier_preparer.quote
        prefix = f"{quote(schema)}." if schema else ""
        names = {
            "events": prefix + quote(events_table),
            "snapshots": prefix + quote(snapshots_table),
        }
        self._postgres = engine.dialect.name == "postgresql"
        snapshots, events = (
            (_POSTGRES_SNAPSHOTS, _POSTGRES_EVENTS)
            if self._postgres
            else (_SQLITE_SNAPSHOTS, _SQLITE_EVENTS)
        )
        # PostgreSQL's queries go straight to psycopg, their arrays in binary format
        # (``%(name)b``): in text format each id is escaped with regular expressions.
        self._snapshots_query: str | TextClause = snapshots.format(**names)
        self._events_query: str | TextClause = events.format(**names)
        if not self._postgres:
            self._snapshots_query = text(self._snapshots_query)
            self._events_query = text(self._events_query)

    @classmethod
    def for_application(
        cls, engine: Engine, application: Application[UUID]
    ) -> SqlAlchemyJourneyHistory:
        events: Any = application.recorder
        snapshots: Any = application.snapshots.recorder if application.snapshots else events
        # PostgreSQL's recorders keep their tables in the schema of their datastore.
        datastore = getattr(events, "datastore", None)
        schema = getattr(datastore, "schema", None)
        return cls(
            engine,
            events.events_table_name,
            snapshots.events_table_name,
            schema if isinstance(schema, str) else None,
        )

    def latest_snapshots(self, journey_ids: Sequence[UUID]) -> list[StoredEvent]:
        if not journey_ids:
            return []
        ids: Any = list(journey_ids) if self._postgres else json.dumps([i.hex for i in journey_ids])
        return self._fetch(self._snapshots_query, {"ids": ids})

    def events_after(self, versions: Mapping[UUID, int]) -> list[StoredEvent]:
        if not versions:
            return []
        if self._postgres:
            parameters = {"ids": list(versions), "versions": list(versions.values())}
        else:
            pairs = [[journey_id.hex, version] for journey_id, version in versions.items()]
            parameters = {"pairs": json.dumps(pairs)}
        return self._fetch(self._events_query, parameters)

    def _fetch(self, query: str | TextClause, parameters: Mapping[str, Any]) -> list[StoredEvent]:
        with read_connection(self._engine) as connection:
            if isinstance(query, str):
                rows = connection.exec_driver_sql(query, dict(parameters)).all()
            else:
                rows = connection.execute(query, parameters).all()
        return [
            StoredEvent(
                originator_id=row[0] if isinstance(row[0], UUID) else UUID(str(row[0])),
                originator_version=int(row[1]),
                topic=row[2],
                state=bytes(row[3]),
            )
            for row in rows
        ]
