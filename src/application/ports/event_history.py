"""The processed events read back for a rule's dry run, out of the workers' way."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class HistoryEvent:
    """A processed event as a rule's dry-run replays it (payload included)."""

    user_id: str
    event_type: str
    app_source: str
    timestamp: datetime
    payload: Mapping[str, object]


class EventHistory(Protocol):
    """The processed events read back in bounded batches, for replays that must not get
    in the workers' way: each batch is its own short read, ordered by user then time."""

    def processed_since(
        self, since: datetime, event_types: Sequence[str], apps: Sequence[str]
    ) -> Iterator[Sequence[HistoryEvent]]:
        """Events at or after ``since`` of ``event_types`` or of ``apps``, in batches;
        one user's events never go back in time, and users come in order."""
        ...

    def users_with_nudge(self, nudge_type: str, user_ids: Sequence[str]) -> set[str]:
        """Those of ``user_ids`` the live rule already nudged."""
        ...
