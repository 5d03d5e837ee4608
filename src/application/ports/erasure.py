"""Forgetting a user: every row the store holds about them, removed at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class ErasureReport:
    """What forgetting a user removed, counted per kind of row."""

    events: int = 0
    """Rows of ``phoenix_events``, whatever their status."""
    journey_events: int = 0
    """Stored events of the user's ``UserJourney`` stream."""
    journey_snapshots: int = 0
    journey_entries: int = 0
    nudges: int = 0
    nudges_sent: int = 0
    applied_events: int = 0
    """The (user, source event) pairs kept unique: left behind, they would make the
    events the user sends again count as already applied."""
    nudge_offers: int = 0
    """The degraded mode's offers made to the user before the worker detected them."""
    skills_extractions: int = 0
    """The skills a language model read from the user's offers and CVs (its cache)."""
    insights: int = 0
    skill_profiles: int = 0
    """The skills noted from the user's offers and CVs, which the skills gap reads."""

    @property
    def total(self) -> int:
        return (
            self.events
            + self.journey_events
            + self.journey_snapshots
            + self.journey_entries
            + self.nudges
            + self.nudges_sent
            + self.applied_events
            + self.nudge_offers
            + self.skills_extractions
            + self.insights
            + self.skill_profiles
        )


class UserEraser(Protocol):
    """Removes every row the store holds about one user, in one transaction.

    Raises ``UserBusyError`` (removing nothing) while a worker holds one of the user's
    events under a live lease: what it saves next would bring the user back. Rows held
    under an expired lease belong to a worker presumed dead and are removed.
    """

    def forget(self, user_id: str, journey_id: UUID, now: datetime) -> ErasureReport: ...
