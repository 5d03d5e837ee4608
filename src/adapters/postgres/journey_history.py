"""The journeys' reads (``SqlAlchemyJourneyHistory``) on PostgreSQL.

Ids are ``uuid``; each query takes the whole batch as arrays (``unnest``), so its text is
the same for every batch. The queries go straight to psycopg, their arrays in binary
format (``%(name)b``): in text format each id is escaped with regular expressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from src.adapters.sql.tables import ERASURES_TRACKING, projection_tracking

# The latest snapshot of each journey asked for: DISTINCT ON keeps the first row of each
# journey, the highest version by the ORDER BY, read through the primary key.
_SNAPSHOTS = """
SELECT DISTINCT ON (s.originator_id) s.originator_id, s.originator_version, s.topic, s.state
FROM {snapshots} AS s
WHERE s.originator_id = ANY(%(ids)b::uuid[])
ORDER BY s.originator_id, s.originator_version DESC
"""
# Each journey's events after a version. A LATERAL subquery kept apart by OFFSET 0 (no
# pull-up into a join), so each journey is an index range scan whatever the statistics
# say: a plain join was planned as a hash join over the whole events table, once per
# batch, which made long drains quadratic. First (no id) the count of erasures, if any
# was made yet: one statement, so the count and the events are of the same snapshot.
_EVENTS = """
SELECT NULL::uuid, t.position, NULL::text, NULL::bytea
FROM {tracking} AS t
WHERE t.name = %(erasures)s
UNION ALL
SELECT e.originator_id, e.originator_version, e.topic, e.state
FROM unnest(%(ids)b::uuid[], %(versions)b::bigint[]) AS v(id, version)
CROSS JOIN LATERAL (
    SELECT * FROM {events} AS x
    WHERE x.originator_id = v.id AND x.originator_version > v.version
    OFFSET 0
) AS e
ORDER BY 1 NULLS FIRST, 2
"""
_TRACKING = f"{projection_tracking.schema}.{projection_tracking.name}"


class PostgresJourneyStatements:
    """The two reads, for tables named already quoted (``schema.table``)."""

    def __init__(self, events: str, snapshots: str) -> None:
        self.latest_snapshots: str = _SNAPSHOTS.format(snapshots=snapshots)
        self.events_after: str = _EVENTS.format(events=events, tracking=_TRACKING)

    def snapshot_parameters(self, journey_ids: Sequence[UUID]) -> dict[str, Any]:
        """The journeys' ids as one ``uuid[]``."""
        return {"ids": list(journey_ids)}

    def events_parameters(self, versions: Mapping[UUID, int]) -> dict[str, Any]:
        """Two arrays of the same length: the journeys' ids and the version each has."""
        return {
            "ids": list(versions),
            "versions": list(versions.values()),
            "erasures": ERASURES_TRACKING,
        }
