"""The journeys' side of the store: their stored events read in bulk, the source events
they have applied, and what a batch commits with them (the unit of work)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent as StoredDomainEvent

from src.application.ports.inbox import BatchOutcome
from src.application.ports.read_models import ReadModelChanges


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


class JourneyHistory(Protocol):
    """The journeys' stored events read in bulk: two queries for a whole batch.

    Loading a batch's journeys one by one costs two round trips per user (snapshot,
    then events); this reads them all at once.
    """

    def latest_snapshots(self, journey_ids: Sequence[UUID]) -> list[StoredDomainEvent]:
        """The most recent snapshot of each journey that has one."""
        ...

    def events_after(self, versions: Mapping[UUID, int]) -> StoredHistory:
        """Each journey's events above the given version, by journey then version, and
        the count of erasures, both as one snapshot of the store saw them."""
        ...


@dataclass(frozen=True)
class StoredHistory:
    """Journeys' stored events and the store's count of erasures, read at one moment."""

    events: list[StoredDomainEvent]
    erasures: int
    """Users forgotten so far: every erasure moves it on in the commit that deletes the
    user's history. Equal counts at two reads mean no history was deleted in between."""
