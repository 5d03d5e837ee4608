"""The in-memory side of erasure: a journeys store that can forget a stream, and a fake eraser.

eventsourcing's own in-memory store (POPO) offers no public way to remove a stream, so
the fake journeys store implements the library's public ``ApplicationRecorder`` interface
itself; ``ForgettableFactory`` is its ``PERSISTENCE_MODULE``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    IntegrityError,
    Notification,
    StoredEvent,
    Subscription,
)
from eventsourcing.popo import POPOFactory

from src.application.errors import UserBusyError
from src.application.journeys import JourneyApplication
from src.application.ports.erasure import ErasureReport
from src.application.ports.journeys import BatchWrites
from tests.fakes import FakeEventInbox, FakeReadModelStore, WritesBatches

FORGETTABLE = {"PERSISTENCE_MODULE": "tests.fake_erasure:ForgettableFactory"}


class ForgettableRecorder(WritesBatches, ApplicationRecorder):
    """Stored events in memory; notification ids are never reused, as in a real table."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._by_id: dict[int, StoredEvent] = {}
        self._streams: dict[UUID | str, dict[int, int]] = {}
        self._last_id = 0

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        batch: BatchWrites | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        with self._lock:
            self.check_fence(batch)
            keys = [(s.originator_id, s.originator_version) for s in stored_events]
            if len(set(keys)) < len(keys) or any(
                version in self._streams.get(originator, {}) for originator, version in keys
            ):
                raise IntegrityError("stored event already recorded")
            self.check_batch(batch)
            ids = []
            for stored in stored_events:
                self._last_id += 1
                self._by_id[self._last_id] = stored
                self._streams.setdefault(stored.originator_id, {})[stored.originator_version] = (
                    self._last_id
                )
                ids.append(self._last_id)
            self.write_batch(batch, ids)
            return ids

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        with self._lock:
            stream = self._streams.get(originator_id, {})
            versions = sorted(
                v for v in stream if (gt is None or v > gt) and (lte is None or v <= lte)
            )
            if desc:
                versions.reverse()
            return [self._by_id[stream[v]] for v in versions[:limit]]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        with self._lock:
            first = start or 0
            found = []
            for notification_id in sorted(self._by_id):
                if notification_id < first or (notification_id == first and not inclusive_of_start):
                    continue
                if stop is not None and notification_id > stop:
                    break
                stored = self._by_id[notification_id]
                if topics and stored.topic not in topics:
                    continue
                found.append(
                    Notification(
                        id=notification_id,
                        originator_id=stored.originator_id,
                        originator_version=stored.originator_version,
                        topic=stored.topic,
                        state=stored.state,
                    )
                )
                if len(found) == limit:
                    break
            return found

    def max_notification_id(self) -> int | None:
        with self._lock:
            return max(self._by_id, default=None)

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        raise NotImplementedError("the fake journeys store is pulled, never subscribed to")

    def forget(self, originator_id: UUID) -> int:
        with self._lock:
            stream = self._streams.pop(originator_id, {})
            for notification_id in stream.values():
                del self._by_id[notification_id]
            return len(stream)


class ForgettableFactory(POPOFactory):
    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return ForgettableRecorder()

    def application_recorder(self) -> ApplicationRecorder:
        return ForgettableRecorder()


class FakeUserEraser:
    def __init__(
        self, inbox: FakeEventInbox, read_models: FakeReadModelStore, journeys: JourneyApplication
    ) -> None:
        self._inbox = inbox
        self._read_models = read_models
        self._journeys = journeys

    def forget(self, user_id: str, journey_id: UUID, now: datetime) -> ErasureReport:
        rows = self._inbox.rows
        mine = [event_id for event_id, row in rows.items() if row.event.user_id == user_id]
        if any(
            rows[i].status == "processing" and (rows[i].locked_until or now) > now for i in mine
        ):
            raise UserBusyError(f"events of user {user_id!r} are being processed right now")
        for event_id in mine:
            del rows[event_id]
        recorder: Any = self._journeys.recorder
        snapshots: Any = self._journeys.snapshots.recorder if self._journeys.snapshots else None
        store = self._read_models
        entries = [h for h, entry in store.entries.items() if entry.user_id == user_id]
        offers = {n for n, offer in store.offers.items() if offer.user_id == user_id}
        nudge_ids = {n for n, nudge in store.nudges.items() if nudge.user_id == user_id}
        shown = [s for s in store.shown if s[0] in nudge_ids | offers]
        for event_hash in entries:
            del store.entries[event_hash]
        for nudge_id in nudge_ids:
            del store.nudges[nudge_id]
        for nudge_id in offers:
            del store.offers[nudge_id]
        store.shown[:] = [s for s in store.shown if s[0] not in nudge_ids | offers]
        return ErasureReport(
            events=len(mine),
            journey_events=recorder.forget(journey_id),
            journey_snapshots=snapshots.forget(journey_id) if snapshots is not None else 0,
            journey_entries=len(entries),
            nudges=len(nudge_ids),
            nudges_sent=len(shown),
            applied_events=recorder.applied.forget(user_id) if recorder.applied else 0,
            nudge_offers=len(offers),
        )
