"""The ``phoenix_events`` store seen as a work queue: appends, claims under a lease, a
batch's outcome, and the operator's view of the queue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from src.domain.events import NewEvent

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
    hashes: Mapping[int, str] = field(default_factory=dict)
    """The hashes that rows which arrived without one take with their marks (event id to
    hash), where ``EventInbox.twins`` found no twin: one write of each such row less than
    assigning them first. A twin committed in between fails the commit on the unique hash.
    """

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

    def twins(self, hashes: Mapping[int, str]) -> set[int]:
        """Of rows that arrived without a hash (event id to the hash they would take), the
        twins: another row holds that hash, or a row of the same call with a lower id
        takes it (the first of twins keeps it). Writes nothing: the others take their
        hashes with their marks (``BatchOutcome.hashes``)."""
        ...

    def complete(self, outcome: BatchOutcome) -> None:
        """Record a batch's outcome in one transaction, fenced by its ``holder``."""
        ...

    def queue_status(self, now: datetime) -> QueueStatus: ...

    def requeue(self, selection: RequeueSelection) -> int:
        """Put the selected events (never ones being processed) back to pending."""
        ...
