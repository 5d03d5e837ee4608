"""In-memory fakes of the application's ports, for unit tests and contract tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError
from eventsourcing.persistence import StoredEvent as StoredDomainEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from src.application.ecosystem import app_combinations
from src.application.errors import LeaseLostError
from src.application.journeys import JourneyApplication
from src.application.nudge_policy import (
    Display,
    NudgeRules,
    Offer,
    UserNudges,
    exposed_at,
    needs_display,
    nudges_to_show,
    outcome,
)
from src.application.ports.inbox import (
    AppendResult,
    BatchOutcome,
    QueueStatus,
    RequeueSelection,
    StoredEvent,
)
from src.application.ports.journeys import AppliedEvent, BatchWrites
from src.application.ports.nudges import ActiveNudge, NudgeRecord, NudgeSettings
from src.application.ports.read_models import (
    EcosystemFigures,
    InsightRecord,
    Journey,
    JourneyEntry,
    ReadModelChanges,
)
from src.domain.catalogue import Catalogue
from src.domain.events import NewEvent
from src.domain.experiments import VariantCounts


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class _Row:
    event: StoredEvent
    status: str = "pending"
    locked_until: datetime | None = None
    error: str | None = None
    received_at: datetime | None = None
    locked_by: str | None = None


class FakeEventInbox:
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.rows: dict[int, _Row] = {}
        self._next_id = 1
        self.store_answers = True
        self.claims = 0
        """How many claims were asked for (each drain asks at least one)."""

    def insert_raw(self, **fields: object) -> int:
        """A row as a manual INSERT would write it: no hash unless given."""
        event_id = self._next_id
        self._next_id += 1
        event = StoredEvent(
            id=event_id,
            event_type=str(fields["event_type"]),
            app_source=str(fields["app_source"]),
            user_id=str(fields["user_id"]),
            payload=fields.get("payload", {}),  # type: ignore[arg-type]
            timestamp=fields.get("timestamp", self._clock.now()),  # type: ignore[arg-type]
            idempotency_key=fields.get("idempotency_key"),  # type: ignore[arg-type]
            event_hash=fields.get("event_hash"),  # type: ignore[arg-type]
            attempts=0,
            unreadable=fields.get("unreadable"),  # type: ignore[arg-type]
        )
        self.rows[event_id] = _Row(event, received_at=self._clock.now())
        return event_id

    def append(self, events: Sequence[NewEvent]) -> AppendResult:
        known = {row.event.event_hash for row in self.rows.values()}
        accepted = 0
        duplicates: list[str] = []
        for event in events:
            if event.event_hash in known:
                duplicates.append(event.event_hash)
                continue
            known.add(event.event_hash)
            self.insert_raw(
                event_type=event.event_type,
                app_source=event.app_source,
                user_id=event.user_id,
                payload=dict(event.payload),
                timestamp=event.timestamp or self._clock.now(),
                idempotency_key=event.idempotency_key,
                event_hash=event.event_hash,
            )
            accepted += 1
        return AppendResult(accepted, len(duplicates), tuple(duplicates))

    def append_groups(self, groups: Sequence[Sequence[NewEvent]]) -> list[AppendResult]:
        return [self.append(group) for group in groups]

    def claim(
        self, limit: int, now: datetime, lease_until: datetime, holder: str | None = None
    ) -> list[StoredEvent]:
        self.claims += 1
        claimed: list[StoredEvent] = []
        in_hand = {
            row.event.user_id
            for row in self.rows.values()
            if row.status == "processing" and row.locked_until and row.locked_until > now
        }
        for row in sorted(self.rows.values(), key=lambda r: r.event.id):
            if len(claimed) == limit:
                break
            if row.status not in ("pending", "failed", "processing"):
                continue
            if row.locked_until is not None and row.locked_until > now:
                continue
            if row.event.user_id in in_hand:
                continue
            row.event = replace(row.event, attempts=row.event.attempts + 1)
            row.status = "processing"
            row.locked_until = lease_until
            row.locked_by = holder
            claimed.append(row.event)
        return claimed

    def renew(self, holder: str, lease_until: datetime) -> int:
        mine = [r for r in self.rows.values() if r.locked_by == holder and r.status == "processing"]
        for row in mine:
            row.locked_until = lease_until
        return len(mine)

    def give_back(self, holders: Sequence[str]) -> int:
        mine = [
            r for r in self.rows.values() if r.locked_by in holders and r.status == "processing"
        ]
        for row in mine:
            row.status, row.locked_until, row.locked_by = "pending", None, None
            row.event = replace(row.event, attempts=row.event.attempts - 1)
        return len(mine)

    def reachable(self) -> bool:
        return self.store_answers

    def is_outage(self, error: BaseException) -> bool:
        """The fakes' outage is Python's own: a ``ConnectionError``."""
        return isinstance(error, ConnectionError)

    def hold(self, outcome: BatchOutcome) -> None:
        """The fencing token, as the stores check it: raise unless the holder holds all."""
        if outcome.holder is None:
            return
        for event_id in outcome.event_ids:
            row = self.rows.get(event_id)
            if row is None or row.locked_by != outcome.holder:
                raise LeaseLostError(outcome.holder, len(outcome.event_ids))

    def twins(self, hashes: Mapping[int, str]) -> set[int]:
        holders = {row.event.event_hash: row.event.id for row in self.rows.values()}
        return {
            event_id
            for event_id, event_hash in sorted(hashes.items())
            if holders.setdefault(event_hash, event_id) != event_id
        }

    def check_hashes(self, outcome: BatchOutcome) -> None:
        """The unique hash, as the stores check it: a hash another row holds fails."""
        holders = {row.event.event_hash: row.event.id for row in self.rows.values()}
        for event_id, event_hash in outcome.hashes.items():
            if holders.setdefault(event_hash, event_id) != event_id:
                raise IntegrityError(f"event_hash {event_hash} is taken")

    def complete(self, outcome: BatchOutcome) -> None:
        self.hold(outcome)
        self.check_hashes(outcome)
        for event_id, event_hash in outcome.hashes.items():
            row = self.rows[event_id]
            row.event = replace(row.event, event_hash=event_hash)
        for event_id in outcome.processed:
            row = self.rows[event_id]
            row.status, row.locked_until, row.error = "processed", None, None
            row.locked_by = outcome.holder
        for event_id in outcome.duplicates:
            row = self.rows[event_id]
            row.status, row.locked_until, row.locked_by = "duplicate", None, outcome.holder
        for failure in outcome.failures:
            row = self.rows[failure.event_id]
            row.status = "failed" if failure.retry_at is not None else "dead"
            row.locked_until, row.locked_by = failure.retry_at, outcome.holder
            row.error = failure.error

    def queue_status(self, now: datetime) -> QueueStatus:
        def count(status: str) -> int:
            return sum(1 for row in self.rows.values() if row.status == status)

        pending = [row for row in self.rows.values() if row.status == "pending"]
        oldest = min((row.received_at for row in pending if row.received_at), default=None)
        return QueueStatus(
            pending=count("pending"),
            processing=count("processing"),
            processed=count("processed"),
            duplicates=count("duplicate"),
            failed=count("failed"),
            dead=count("dead"),
            oldest_pending_age_seconds=(now - oldest).total_seconds() if oldest else None,
        )

    def requeue(self, selection: RequeueSelection) -> int:
        count = 0
        for row in self.rows.values():
            if row.status == "processing":
                continue
            if selection.event_ids is not None and row.event.id not in selection.event_ids:
                continue
            if selection.since is not None and row.event.timestamp < selection.since:
                continue
            if selection.status is not None and row.status != selection.status:
                continue
            row.status, row.locked_until = "pending", None
            row.event = replace(row.event, attempts=0)
            count += 1
        return count

    def status_of(self, event_id: int) -> str:
        return self.rows[event_id].status

    def error_of(self, event_id: int) -> str | None:
        return self.rows[event_id].error


class _FakeProjectionTransaction:
    def __init__(self, store: FakeReadModelStore, name: str) -> None:
        self._store = store
        self._name = name

    @property
    def position(self) -> int:
        return self._store.positions.get(self._name, 0)

    def write(self, changes: ReadModelChanges, position: int) -> None:
        for entry in changes.entries:
            self._store.entries.setdefault(entry.event_hash, entry)
        for nudge in changes.nudges:
            self._store.nudges.setdefault(nudge.nudge_id, nudge)
        for nudge_id, converted_at in changes.conversions:
            nudge = self._store.nudges[nudge_id]
            self._store.nudges[nudge_id] = replace(
                nudge, status="converted", converted_at=converted_at
            )
        for insight in changes.insights:
            self._store.insights.setdefault(insight.insight_id, insight)
        self._store.positions[self._name] = position


TEST_SETTINGS = NudgeSettings(cooldown_hours=24, max_per_day=1, attribution_days=7)


class FakeReadModelStore:
    """The read models in memory; the nudges' outcomes by the rules of ``nudge_policy``."""

    def __init__(self, settings: NudgeSettings = TEST_SETTINGS) -> None:
        self.entries: dict[str, JourneyEntry] = {}
        self.nudges: dict[str, NudgeRecord] = {}
        self.shown: list[tuple[str, str, datetime]] = []
        self.offers: dict[str, Offer] = {}
        self.positions: dict[str, int] = {}
        self.settings = settings
        self.insights: dict[str, InsightRecord] = {}

    @contextmanager
    def projection(self, name: str) -> Iterator[_FakeProjectionTransaction]:
        yield _FakeProjectionTransaction(self, name)

    def get_journey(self, user_id: str) -> Journey | None:
        entries = sorted(
            (e for e in self.entries.values() if e.user_id == user_id),
            key=lambda e: (e.timestamp, e.event_hash),
        )
        found = [n for n in self.nudges.values() if n.user_id == user_id]
        if not entries and not found:
            return None
        return Journey(
            user_id=user_id,
            apps=tuple(sorted({e.app_source for e in entries})),
            events=tuple(entries),
            nudges=tuple(found),
            insights=tuple(
                sorted(
                    (i for i in self.insights.values() if i.user_id == user_id),
                    key=lambda i: (i.created_at, i.insight_id),
                )
            ),
        )

    def ecosystem(self, since: datetime, period_days: int) -> EcosystemFigures:
        recent = [e for e in self.entries.values() if e.timestamp >= since]
        apps_by_user: dict[str, set[str]] = {}
        by_app: dict[str, int] = {}
        by_type: dict[str, int] = {}
        for entry in recent:
            apps_by_user.setdefault(entry.user_id, set()).add(entry.app_source)
            by_app[entry.app_source] = by_app.get(entry.app_source, 0) + 1
            by_type[entry.event_type] = by_type.get(entry.event_type, 0) + 1
        outcomes = [(n, self.first_shown(n.nudge_id)) for n in self.nudges.values()]
        days = self.settings.attribution_days
        reached = [
            (n, outcome(first, n.converted_at, days))
            for n, first in outcomes
            if n.converted_at is not None and n.converted_at >= since
        ]
        return EcosystemFigures(
            period_days=period_days,
            total_events=len(recent),
            unique_users=len(apps_by_user),
            cross_app_users=sum(1 for apps in apps_by_user.values() if len(apps) > 1),
            events_by_app=dict(sorted(by_app.items())),
            events_by_type=dict(sorted(by_type.items())),
            nudges_detected=sum(1 for n in self.nudges.values() if n.detected_at >= since),
            nudges_shown=sum(
                1
                for n, first in outcomes
                if (at := exposed_at(first, n.converted_at)) is not None and at >= since
            ),
            nudges_converted=sum(1 for _, verdict in reached if verdict == "converted"),
            nudges_organic=sum(1 for _, verdict in reached if verdict == "organic"),
            app_combinations=app_combinations(
                Counter(frozenset(apps) for apps in apps_by_user.values())
            ),
        )

    def first_shown(self, nudge_id: str) -> datetime | None:
        return min((at for n, _a, at in self.shown if n == nudge_id), default=None)

    def experiment_counts(self) -> dict[str, dict[str, VariantCounts]]:
        days = self.settings.attribution_days
        counts: dict[str, dict[str, VariantCounts]] = {}
        for nudge in self.nudges.values():
            first = self.first_shown(nudge.nudge_id)
            before = counts.setdefault(nudge.nudge_type, {}).get(nudge.variant, VariantCounts())
            counts[nudge.nudge_type][nudge.variant] = VariantCounts(
                assigned=before.assigned + 1,
                exposed=before.exposed + (exposed_at(first, nudge.converted_at) is not None),
                converted=before.converted
                + (outcome(first, nudge.converted_at, days) == "converted"),
            )
        return counts

    def nudge_settings(self) -> NudgeSettings:
        return self.settings


class FakeNudgeBoard:
    """The nudges to show and their displays, by the rules of ``nudge_policy`` over the
    fakes' rows, as the SQLite store applies them over its own."""

    def __init__(
        self,
        read_models: FakeReadModelStore,
        inbox: FakeEventInbox,
        clock: FakeClock,
        rules: NudgeRules,
    ) -> None:
        self._read_models = read_models
        self._inbox = inbox
        self._clock = clock
        self._rules = rules

    def active_nudges(self, user_id: str, app: str, language: str) -> list[ActiveNudge]:
        store = self._read_models
        mine = [n for n in store.nudges.values() if n.user_id == user_id]
        ids = {n.nudge_id for n in mine} | {
            o.nudge_id for o in store.offers.values() if o.user_id == user_id
        }
        user = UserNudges(
            nudges=mine,
            displays=[Display(n, a, at) for n, a, at in store.shown if n in ids],
            active_apps={
                row.event.app_source
                for row in self._inbox.rows.values()
                if row.event.user_id == user_id and row.status not in ("duplicate", "dead")
            },
            offered={o.nudge_id: o.variant for o in store.offers.values() if o.user_id == user_id},
        )
        rules = replace(self._rules, settings=store.settings)
        shown, offers = nudges_to_show(user_id, app, language, self._clock.now(), user, rules)
        for offer in offers:
            store.offers.setdefault(offer.nudge_id, offer)
        return shown

    def mark_shown(self, nudge_id: str, app: str | None = None) -> datetime | None:
        store = self._read_models
        found = store.nudges.get(nudge_id) or store.offers.get(nudge_id)
        if found is None:
            return None
        now = self._clock.now()
        displays = [Display(n, a, at) for n, a, at in store.shown if n == nudge_id]
        if not needs_display(displays, now, store.settings):
            return max(d.shown_at for d in displays)
        store.shown.append((nudge_id, app or found.shown_in, now))
        return now

    def displayed_offers(self, user_ids: Collection[str]) -> dict[tuple[str, str], str]:
        shown = {n for n, _a, _at in self._read_models.shown}
        return {
            (o.user_id, o.nudge_type): o.variant
            for o in self._read_models.offers.values()
            if o.user_id in user_ids and o.nudge_id in shown
        }


class RecordingAnalyser:
    """Sleeps a little per event and records how many ran at once."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.running = 0
        self.max_running = 0
        self.seen: list[int] = []

    async def analyse(self, event: StoredEvent) -> None:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay)
            self.seen.append(event.id)
        finally:
            self.running -= 1


class FailingAnalyser:
    """Fails (or hangs) on events of the given users; lets the others through."""

    def __init__(self, users: set[str], *, hang: bool = False) -> None:
        self.users = users
        self.hang = hang
        self.calls = 0

    async def analyse(self, event: StoredEvent) -> None:
        if event.user_id not in self.users:
            return
        self.calls += 1
        if self.hang:
            await asyncio.sleep(3600)
        raise RuntimeError(f"analyser exploded on event {event.id}")


class FakeAppliedEvents:
    """The store's (user, event hash) pairs: unique, as the real table's key keeps them."""

    def __init__(self) -> None:
        self.pairs: set[AppliedEvent] = set()

    def already_applied(self, events: Collection[AppliedEvent]) -> set[AppliedEvent]:
        return self.pairs & set(events)

    def check(self, events: Sequence[AppliedEvent]) -> None:
        """Raise as the table's key would, adding nothing."""
        if len(set(events)) < len(events) or self.pairs & set(events):
            raise IntegrityError("a (user, event hash) pair is applied already")

    def add(self, events: Sequence[AppliedEvent]) -> None:
        self.check(events)
        self.pairs.update(events)

    def forget(self, user_id: str) -> int:
        mine = {pair for pair in self.pairs if pair.user_id == user_id}
        self.pairs -= mine
        return len(mine)


class WritesBatches:
    """The in-memory journeys stores' share of a batch's unit of work (``BatchWrites``).

    A real recorder writes the batch's outcome, applied pairs and read-model rows in the
    transaction that stores the journeys' events; the fakes' stores are the attached fake
    inbox, applied events and read models. The pairs are checked with the events, before
    anything is stored, and everything is written right after the events are stored.
    """

    inbox: FakeEventInbox | None = None
    read_models: FakeReadModelStore | None = None
    applied: FakeAppliedEvents | None = None

    def attach(
        self,
        inbox: FakeEventInbox,
        read_models: FakeReadModelStore,
        applied: FakeAppliedEvents,
    ) -> None:
        self.inbox, self.read_models, self.applied = inbox, read_models, applied

    def check_fence(self, batch: BatchWrites | None) -> None:
        """The fencing token, before anything else, as the stores' recorders check it."""
        if batch is not None and batch.outcome is not None and self.inbox is not None:
            self.inbox.hold(batch.outcome)

    def check_batch(self, batch: BatchWrites | None) -> None:
        if batch is not None and self.applied is not None:
            self.applied.check(batch.applied)
        if batch is not None and batch.outcome is not None and self.inbox is not None:
            self.inbox.check_hashes(batch.outcome)

    def write_batch(self, batch: BatchWrites | None, notification_ids: Sequence[int]) -> None:
        if batch is None:
            return
        if self.inbox is None or self.read_models is None or self.applied is None:
            raise RuntimeError("attach() the fake inbox, read models and applied events first")
        self.applied.add(batch.applied)
        if batch.outcome is not None:
            self.inbox.complete(batch.outcome)
        with self.read_models.projection(batch.projection) as transaction:
            # Past the batch only when nothing before it is unprojected (ids are dense).
            caught_up = bool(notification_ids) and transaction.position >= min(notification_ids) - 1
            position = max(notification_ids) if caught_up else transaction.position
            transaction.write(batch.read_model_changes, position)


class FakeBatchRecorder(WritesBatches, POPOApplicationRecorder):
    def _assert_uniqueness(
        self,
        stored_events: Sequence[StoredDomainEvent],
        *,
        batch: BatchWrites | None = None,
        **kwargs: Any,
    ) -> None:
        """The library's check before anything is stored, under the store's lock."""
        self.check_fence(batch)
        super()._assert_uniqueness(stored_events, batch=batch, **kwargs)
        self.check_batch(batch)

    def _insert_events(
        self,
        stored_events: Sequence[StoredDomainEvent],
        *,
        batch: BatchWrites | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(stored_events, batch=batch, **kwargs) or []
        self.write_batch(batch, notification_ids)
        return notification_ids


class FakeBatchFactory(POPOFactory):
    """``PERSISTENCE_MODULE`` of the unit tests' journeys: ``attach`` the fakes after."""

    def application_recorder(self) -> FakeBatchRecorder:
        return FakeBatchRecorder()


FAKE_BATCHES = {"PERSISTENCE_MODULE": "tests.fakes:FakeBatchFactory"}


def fake_journeys(
    catalogue: Catalogue,
    *,
    inbox: FakeEventInbox | None = None,
    read_models: FakeReadModelStore | None = None,
    env: Mapping[str, str] = FAKE_BATCHES,
    **options: Any,
) -> JourneyApplication:
    """Journeys on an in-memory store whose recorder writes the unit of work to fakes:
    ``inbox`` and ``read_models`` (fresh ones unless given), and ``applied_events``
    (the one the application reads, fresh unless given)."""
    applied: FakeAppliedEvents = options.pop("applied_events", None) or FakeAppliedEvents()
    journeys = JourneyApplication(catalogue, env=dict(env), applied_events=applied, **options)
    recorder: Any = journeys.recorder
    recorder.attach(
        inbox or FakeEventInbox(FakeClock()), read_models or FakeReadModelStore(), applied
    )
    return journeys
