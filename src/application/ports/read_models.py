"""The read models the apps read back (journeys, figures, experiments), and the
exactly-once writes of the projection that feeds them."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from src.application.ports.nudges import NudgeRecord, NudgeSettings
from src.domain.experiments import VariantCounts


@dataclass(frozen=True)
class JourneyEntry:
    """One source event as it appears in a user's journey read model."""

    user_id: str
    event_hash: str
    event_type: str
    app_source: str
    timestamp: datetime


@dataclass(frozen=True)
class InsightRecord:
    """An insight as the read model keeps it: both messages, the reader picks one."""

    insight_id: str
    user_id: str
    kind: str
    source_hashes: list[str]
    data: Mapping[str, object]
    messages: Mapping[str, str]
    created_at: datetime


@dataclass(frozen=True)
class Journey:
    user_id: str
    apps: tuple[str, ...]
    events: tuple[JourneyEntry, ...]
    nudges: tuple[NudgeRecord, ...]
    insights: tuple[InsightRecord, ...] = ()


@dataclass(frozen=True)
class EcosystemFigures:
    period_days: int
    total_events: int
    unique_users: int
    cross_app_users: int
    events_by_app: Mapping[str, int]
    events_by_type: Mapping[str, int]
    nudges_detected: int
    nudges_shown: int
    """Exposures: nudges displayed at least once before their user reached the target."""
    nudges_converted: int
    """Attributed: the target reached after the exposure, within the attribution window."""
    nudges_organic: int = 0
    """The target reached with no exposure before, or after the window."""
    app_combinations: Mapping[str, int] = field(default_factory=dict)
    """Per combination of two or more apps active in the period (names sorted, joined by
    ``+``): the users active in each of them (a user of three apps counts in every pair)."""


@dataclass
class ReadModelChanges:
    """What one projection step writes, together with its new tracking position."""

    entries: list[JourneyEntry] = field(default_factory=list)
    nudges: list[NudgeRecord] = field(default_factory=list)
    conversions: list[tuple[str, datetime]] = field(default_factory=list)
    insights: list[InsightRecord] = field(default_factory=list)


class ProjectionTransaction(Protocol):
    """A transaction holding a projection's tracking row; views change with the position."""

    @property
    def position(self) -> int: ...

    def write(self, changes: ReadModelChanges, position: int) -> None:
        """Apply the changes and move the tracking position, committed together on exit."""
        ...


class ReadModelStore(Protocol):
    """The read models the apps read back, and the exactly-once writes that feed them."""

    def projection(self, name: str) -> AbstractContextManager[ProjectionTransaction]: ...

    def get_journey(self, user_id: str) -> Journey | None: ...

    def ecosystem(self, since: datetime, period_days: int) -> EcosystemFigures:
        """The figures since ``since``; the nudges' outcomes as the store defines them."""
        ...

    def experiment_counts(self) -> dict[str, dict[str, VariantCounts]]:
        """Per nudge type and variant: nudges assigned, exposed, and converted (attributed)."""
        ...

    def nudge_settings(self) -> NudgeSettings:
        """The values the store's nudge rules use (the attribution window among them)."""
        ...
