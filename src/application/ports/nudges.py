"""The store's side of the nudges apps show: the records, the settings the rules read,
and one port, whose every adapter applies the rules in the store's own home for them
(SQL functions on PostgreSQL, ``nudge_policy`` elsewhere), so that the API answers what
the apps reading the store directly get."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class NudgeRecord:
    """A nudge as the read model keeps it."""

    nudge_id: str
    user_id: str
    nudge_type: str
    shown_in: str
    target_app: str
    status: str
    detected_at: datetime
    converted_at: datetime | None = None
    variant: str = ""
    rank: float = 0.0
    """Its place when nudges compete for the daily cap, higher first (``nudge_choice``)."""


@dataclass(frozen=True)
class NudgeSettings:
    """The values the rules need, kept in the store so that every path reads the same."""

    cooldown_hours: float
    max_per_day: int
    attribution_days: int


@dataclass(frozen=True)
class ActiveNudge:
    nudge_id: str
    nudge_type: str
    target_app: str
    message: str
    variant: str


class NudgeBoard(Protocol):
    def active_nudges(self, user_id: str, app: str, language: str) -> list[ActiveNudge]:
        """The nudges to show ``user_id`` in ``app`` now, worded in ``language``: the
        worker's, then the degraded mode's offers (recorded as they are returned)."""
        ...

    def mark_shown(self, nudge_id: str, app: str | None = None) -> datetime | None:
        """Records a display of a worker nudge or an offer (in ``app``, else where the
        nudge is shown); within the cooldown a second one writes nothing. When it was
        displayed last; None for an unknown nudge."""
        ...

    def displayed_offers(self, user_ids: Collection[str]) -> dict[tuple[str, str], str]:
        """Per (user, nudge type) of these users, the variant of an offer they were shown:
        the worker detecting that nudge keeps the wording the user saw."""
        ...
