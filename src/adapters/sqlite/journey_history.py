"""The journeys' reads (``SqlAlchemyJourneyHistory``) on SQLite.

Ids are 32 hex digits; each query takes the whole batch as one JSON parameter
(``json_each``), so its text is the same for every batch and each journey is found
through the primary key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import TextClause, text

from src.adapters.sql.tables import ERASURES_TRACKING, projection_tracking

# The latest snapshot of each journey asked for: the row whose version is the journey's
# highest.
_SNAPSHOTS = """
SELECT s.originator_id, s.originator_version, s.topic, s.state
FROM json_each(:ids) AS j
JOIN {snapshots} AS s ON s.originator_id = j.value
WHERE s.originator_version = (
    SELECT max(originator_version) FROM {snapshots} WHERE originator_id = j.value
)
"""
# Each journey's events after a version, the pairs (id, version) given as a JSON array.
# First (no id) the count of erasures, if any was made yet: one statement, so the count
# and the events are of the same snapshot.
_EVENTS = """
SELECT NULL, t.position, NULL, NULL
FROM {tracking} AS t
WHERE t.name = :erasures
UNION ALL
SELECT e.originator_id, e.originator_version, e.topic, e.state
FROM json_each(:pairs) AS j
JOIN {events} AS e
  ON e.originator_id = json_extract(j.value, '$[0]')
 AND e.originator_version > json_extract(j.value, '$[1]')
ORDER BY 1, 2
"""


class SqliteJourneyStatements:
    """The two reads, for tables named already quoted."""

    def __init__(self, events: str, snapshots: str) -> None:
        self.latest_snapshots: TextClause = text(_SNAPSHOTS.format(snapshots=snapshots))
        self.events_after: TextClause = text(
            _EVENTS.format(events=events, tracking=projection_tracking.name)
        )

    def snapshot_parameters(self, journey_ids: Sequence[UUID]) -> dict[str, Any]:
        """The journeys' ids as a JSON array of hex strings."""
        return {"ids": json.dumps([i.hex for i in journey_ids])}

    def events_parameters(self, versions: Mapping[UUID, int]) -> dict[str, Any]:
        """The pairs ``[id, version]`` as one JSON array."""
        pairs = [[journey_id.hex, version] for journey_id, version in versions.items()]
        return {"pairs": json.dumps(pairs), "erasures": ERASURES_TRACKING}
