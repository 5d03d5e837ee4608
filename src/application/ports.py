"""The capabilities the application needs from the outside world, as Protocols.

Signatures carry domain and application types only, so adapters (SQLite, PostgreSQL,
in-memory fakes) are interchangeable and each is held to one contract test.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import TYPE_CHECKING, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent as StoredDomainEvent

from src.domain.events import NewEvent
from src.domain.experiments import VariantCounts
from src.domain.insights import Insight

if TYPE_CHECKING:  # the rules' module reads this one's records
    from src.application.nudge_policy import NudgeSettings

STATUSES = ("pending", "processing", "processed", "duplicate", "failed", "dead")


@dataclass(frozen=True)
class StoredEvent:
    """A row of the event store, as a worker claims it."""

    id: int
    event_type: str
    app_source: str
    user_id: str
    payload: Mapping[str, object]
    timestamp: datetime
    idempotency_key: str | None
    event_hash: str | None
    attempts: int
    unreadable: str | None = None
    """Why the row could not be decoded (then payload and timestamp are placeholders).

    The table may hold values Python cannot (a timestamp of ``infinity``, a payload nested
    a thousand levels deep): such a row is claimed like any other, and dies alone.
    """


@dataclass(frozen=True)
class AppendResult:
    """What the store did with an append: new rows, and rows refused as already there."""

    accepted: int
    duplicates: int
    duplicate_hashes: tuple[str, ...] = field(default=(), compare=False)
    """The hashes of the events refused as duplicates, for the log."""


@dataclass(frozen=True)
class Failure:
    """An event that failed: retried at ``retry_at``, or dead when ``retry_at`` is None."""

    event_id: int
    error: str
    retry_at: datetime | None


@dataclass(frozen=True)
class BatchOutcome:
    """How each event of a batch ended: written together, in one transaction."""

    processed: Sequence[int]
    duplicates: Sequence[int]
    failures: Sequence[Failure]
    now: datetime
    holder: str | None = None
    """The fencing token: the batch (``locked_by``) that claimed these events. The commit
    that writes this outcome first checks, in its own transaction, that no other batch
    has claimed any of them since and none was erased (``LeaseLostError`` otherwise); the
    events keep this name once marked. ``None``: events claimed without a name, as only
    tests do; nothing to check them against."""

    @property
    def event_ids(self) -> list[int]:
        """Every event this outcome marks."""
        return [*self.processed, *self.duplicates, *(f.event_id for f in self.failures)]


@dataclass(frozen=True)
class QueueStatus:
    pending: int
    processing: int
    processed: int
    duplicates: int
    failed: int
    dead: int
    oldest_pending_age_seconds: float | None


@dataclass(frozen=True)
class RequeueSelection:
    """Exactly one of the three ways to choose events to put back in the queue."""

    event_ids: tuple[int, ...] | None = None
    since: datetime | None = None
    status: str | None = None


class EventInbox(Protocol):
    """The ``phoenix_events`` store seen as a work queue."""

    def append(self, events: Sequence[NewEvent]) -> AppendResult:
        """Insert all events in one transaction; a row whose hash exists is skipped."""
        ...

    def append_groups(self, groups: Sequence[Sequence[NewEvent]]) -> list[AppendResult]:
        """Insert several requests' events in one transaction, with each group's result.

        As if the groups were appended in turn: an event whose hash is stored, or
        carried by an event before it in the groups, counts as a duplicate of its group.
        """
        ...

    def claim(
        self, limit: int, now: datetime, lease_until: datetime, holder: str | None = None
    ) -> list[StoredEvent]:
        """Lease up to ``limit`` claimable events (pending, retry due, or lease expired).

        Claimed rows become ``processing`` with ``attempts`` + 1, held by ``holder``; no
        other worker gets them before ``lease_until``. A row that cannot be decoded comes
        back with ``unreadable`` set instead of failing the claim.
        """
        ...

    def renew(self, holder: str, lease_until: datetime) -> int:
        """Move the lease of every event ``holder`` still has in hand to ``lease_until``."""
        ...

    def give_back(self, holders: Sequence[str]) -> int:
        """Make the events these holders still have in hand claimable now, uncounted.

        For batches a worker lost track of because the store failed it (a connection
        cut, a database restart), or let go of at shutdown: no fault of the events, so
        the attempt is not counted, and a database restarting a few times in a row cannot
        make innocent events ``dead``. (A worker that dies holding events leaves them to
        the lease, whose expiry does count the attempt.) By holder, never by event id:
        an event another batch took over since is that batch's.
        """
        ...

    def reachable(self) -> bool:
        """Whether the store answers now: tells a fault of the store from a fault of data."""
        ...

    def is_outage(self, error: BaseException) -> bool:
        """Whether ``error``, raised by any adapter of this store, says the store itself
        failed (refused or lost the connection, shut down) rather than the data.

        Asked of the error, not of the store: a store that comes back within the second
        answers ``reachable()`` although the failure was its own.
        """
        ...

    def assign_hashes(self, hashes: Mapping[int, str]) -> set[int]:
        """Give rows that arrived without a hash their hashes (event id to hash), at once.

        Returns the ids refused because a twin has that hash: a row stored before, or a
        row of the same call with a lower id (the first one keeps it).
        """
        ...

    def complete(self, outcome: BatchOutcome) -> None:
        """Record a batch's outcome in one transaction, fenced by its ``holder``."""
        ...

    def queue_status(self, now: datetime) -> QueueStatus: ...

    def requeue(self, selection: RequeueSelection) -> int:
        """Put the selected events (never ones being processed) back to pending."""
        ...


@dataclass(frozen=True)
class JourneyEntry:
    """One source event as it appears in a user's journey read model."""

    user_id: str
    event_hash: str
    event_type: str
    app_source: str
    timestamp: datetime


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


def app_combinations(users_by_app_set: Mapping[frozenset[str], int]) -> dict[str, int]:
    """Every combination of two or more of the apps seen, with the users active in all of
    them, from the number of users per exact set of apps."""
    apps = sorted({app for app_set in users_by_app_set for app in app_set})
    combos: dict[str, int] = {}
    for size in range(2, len(apps) + 1):
        for combo in combinations(apps, size):
            wanted = frozenset(combo)
            combos["+".join(combo)] = sum(
                n for app_set, n in users_by_app_set.items() if wanted <= app_set
            )
    return combos


@dataclass
class ReadModelChanges:
    """What one projection step writes, together with its new tracking position."""

    entries: list[JourneyEntry] = field(default_factory=list)
    nudges: list[NudgeRecord] = field(default_factory=list)
    conversions: list[tuple[str, datetime]] = field(default_factory=list)
    insights: list[InsightRecord] = field(default_factory=list)


class AppliedEvent(NamedTuple):
    """A source event folded into its user's journey: the pair the store holds unique."""

    user_id: str
    event_hash: str


class AppliedEvents(Protocol):
    """Which source events the journeys have applied already, as the store knows it.

    A journey keeps no memory of the events it applied (that would grow with its
    history); the store keeps one row per (user, source event), written by the save that
    records the event (``BatchWrites.applied``) and unique, so a second save of the same
    pair fails the whole commit. This port is the cheap check before folding: one query
    per batch.
    """

    def already_applied(self, events: Collection[AppliedEvent]) -> set[AppliedEvent]:
        """Those of ``events`` a committed save has applied."""
        ...


@dataclass(frozen=True)
class BatchWrites:
    """What "process one batch" commits besides the journeys: the unit of work's other rows.

    ``JourneyApplication`` hands it to ``save(*journeys, batch=BatchWrites(...))``; the
    journeys' recorder of every store (one subclass per store, chosen by eventsourcing's
    ``PERSISTENCE_MODULE``) writes it through eventsourcing's ``_insert_events`` hook, in
    the transaction that stores the journeys' events. So on every store a batch's
    journeys, its outcome and its read-model rows are committed together or not at all;
    the pull projector then has nothing left to do for that batch.
    """

    outcome: BatchOutcome | None
    """How each event of the batch ended (``None``: the journeys alone, nothing marked)."""
    read_model_changes: ReadModelChanges
    """The read-model rows of the journey events being stored."""
    projection: str
    """The tracking row moved past the new notifications, when none before is unprojected."""
    applied: Sequence[AppliedEvent] = ()
    """The source events these journey events apply: inserted, never upserted, so a pair
    some other save committed first fails this one (``IntegrityError``)."""


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


class Clock(Protocol):
    def now(self) -> datetime: ...


class EventAnalyser(Protocol):
    """Per-event work that may be slow or fail (an AI enrichment, a skills gap).

    Runs under ``EVENT_CONCURRENCY``, bounded by ``EVENT_PROCESSING_TIMEOUT``; one
    user's events of a batch reach the analysers one after the other, in time order, so
    an analyser keeping state per user sees them as they happened. Raising fails that
    event only. The insights it hands back (``None``: none) are saved in the batch's
    commit with the event they came from, and rules may fire on them.
    """

    async def analyse(self, event: StoredEvent) -> Sequence[Insight] | None: ...


class JourneyHistory(Protocol):
    """The journeys' stored events read in bulk: two queries for a whole batch.

    Loading a batch's journeys one by one costs two round trips per user (snapshot,
    then events); this reads them all at once.
    """

    def latest_snapshots(self, journey_ids: Sequence[UUID]) -> list[StoredDomainEvent]:
        """The most recent snapshot of each journey that has one."""
        ...

    def events_after(self, versions: Mapping[UUID, int]) -> list[StoredDomainEvent]:
        """Each journey's events above the given version, by journey then version."""
        ...


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
