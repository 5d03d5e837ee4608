"""The event-sourced application that keeps every user's ``UserJourney``."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.persistence import StoredEvent as StoredDomainEvent

from src.application.journey_cache import JourneyCache
from src.application.ports.inbox import BatchOutcome
from src.application.ports.journeys import AppliedEvent, AppliedEvents, BatchWrites, JourneyHistory
from src.application.read_model_changes import PROJECTION_NAME, read_model_changes
from src.domain.catalogue import Catalogue
from src.domain.insights import Insight
from src.domain.user_journey import UserJourney, journey_id

logger = logging.getLogger(__name__)

SNAPSHOT_INTERVAL = 200
"""A journey is snapshotted each time a save takes it past a multiple of this version:
loading it then reads its snapshot and fewer than this many events."""
BATCH_ATTEMPTS = 2
MAX_CONFLICT_RETRIES = 8


class VariantChooser(Protocol):
    def for_batch(self, user_ids: Collection[str]) -> Callable[[str, str], str]:
        """``choose(nudge_type, user_id)`` for the nudges a batch of these users detects."""
        ...


class RankChooser(Protocol):
    def for_batch(self, user_ids: Collection[str]) -> Callable[[str, str, datetime], float]:
        """``rank(nudge_type, user_id, at)`` for the nudges a batch of these users detects."""
        ...


@dataclass(frozen=True)
class SourceEvent:
    """A de-duplicated, validated store event ready to be folded into its user's journey."""

    event_id: int
    event_hash: str
    event_type: str
    app_source: str
    user_id: str
    timestamp: datetime
    payload: Mapping[str, object] = field(default_factory=dict)
    """Read by the rules' payload conditions at fold time; the journey keeps none of it."""
    insights: Sequence[Insight] = ()
    """What the analysers learnt from this event: raised in the journey once the event
    is folded in, so rules may fire on them and they are saved in the batch's commit."""


@dataclass(frozen=True)
class FoldResult:
    recorded: int
    replayed: int
    nudges_detected: int


@dataclass
class _Replay:
    journeys: dict[UUID, Any] = field(default_factory=dict)
    last_states: dict[UUID, bytes] = field(default_factory=dict)
    """The stored bytes of each journey's last event, to recognise it next time."""
    stale: set[UUID] = field(default_factory=set)


class JourneyApplication(Application[UUID]):
    """Folds batches of source events into journeys, saving a whole batch at once.

    One ``save`` per batch matters: the PostgreSQL recorder locks the table
    per save, so per-aggregate saves are an order of magnitude slower.

    Each source event counts once in its user's journey, however often it is claimed,
    re-processed or folded by several workers at once: the save inserts the (user, event
    hash) pairs it applies in its own commit (``BatchWrites.applied``), where the store
    holds them unique, and a fold first asks the store which of its batch's pairs are
    applied already (``AppliedEvents``, one query) and skips them. Two folds of the same
    event racing each other: the second commit fails (the pair, or the journey's version,
    is taken), and the batch is folded again, now skipping the event.

    Snapshots are taken here (``_snapshot``), not by eventsourcing's fixed
    ``snapshotting_intervals``: the store is on, the interval is ours.
    """

    name = "PhoenixJourneys"
    is_snapshotting_enabled = True

    def __init__(
        self,
        catalogue: Catalogue,
        env: Mapping[str, str] | None = None,
        history: Callable[[JourneyApplication], JourneyHistory] | None = None,
        variants: VariantChooser | None = None,
        *,
        applied_events: AppliedEvents,
        ranks: RankChooser | None = None,
    ) -> None:
        # A bounded cache of journeys, so a journey's old events are read once.
        # ``load_journeys`` brings cached journeys up to date in bulk; the repository's
        # own per-journey fast-forward is off (saves then refresh the cache). A journey
        # changed between load and save shows up as a version conflict, and ``fold``
        # reloads. The cached journey itself is handed out (no deep copy, which costs
        # about as much as the fold): ``_fold_once`` evicts what a failed fold touched.
        cache = {
            "AGGREGATE_CACHE_MAXSIZE": "1",
            "AGGREGATE_CACHE_FASTFORWARD": "n",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        }
        super().__init__(env={**cache, **(env or {})})
        self._cache = JourneyCache()
        self.repository.cache = self._cache
        self.catalogue = catalogue
        self._applied_events = applied_events
        # Picks a detected nudge's message variant (see ``VariantAssigner``).
        self._variants = variants
        # Ranks a detected nudge under the daily cap (see ``NudgeRanker``).
        self._ranks = ranks
        # Without a bulk reader (the in-memory store of unit tests), journeys load one by one.
        self._history = history(self) if history is not None else None
        # The count of erasures the last load read (``_load_journeys``).
        self._erasures_read: int | None = None
        self._fold_lock = threading.Lock()

    def get_journey(self, user_id: str) -> UserJourney | None:
        """The journey as this process last saw it: the cache may lag other workers.

        Readers wanting the current state use the read models; ``fold`` relies on
        the version check at save time instead.
        """
        try:
            journey: object = self.repository.get(journey_id(user_id))
        except AggregateNotFoundError:
            return None
        if not isinstance(journey, UserJourney):  # pragma: no cover - foreign aggregate
            raise TypeError(type(journey).__name__)
        return journey

    def fold(
        self, events: Sequence[SourceEvent], outcome: BatchOutcome | None = None
    ) -> FoldResult:
        """Record each user's events in timestamp order, detect nudges, save once.

        The save is the batch's unit of work (``BatchWrites``): the batch ``outcome``, the
        events applied and the read-model rows of the new journey events are committed
        with the journeys, on every store. With no event to fold, the outcome alone is
        written.

        A version conflict, or an event another save applied meanwhile, fails the save
        (``IntegrityError``): the journeys are reloaded and the batch folded again, which
        skips the events applied since. Under sustained contention a whole batch may keep
        colliding, so after ``BATCH_ATTEMPTS`` the journeys are saved one by one, each
        retried alone. A save refused because the batch lost its lease
        (``LeaseLostError``, the outcome's holder) is no conflict: it is raised at once.
        """
        by_user: dict[str, list[SourceEvent]] = defaultdict(list)
        for source in events:
            by_user[source.user_id].append(source)
        # Folds of one process take turns: they share the cached journey objects.
        with self._fold_lock:
            return self._fold_batch(by_user, outcome)

    def _fold_batch(
        self, by_user: Mapping[str, list[SourceEvent]], outcome: BatchOutcome | None
    ) -> FoldResult:
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                return self._fold_once(by_user, outcome)
            except IntegrityError:
                logger.info(
                    "journey version conflict, reloading",
                    extra={"attempt": attempt, "users": len(by_user)},
                )
        recorded = replayed = detected = 0
        for user_id, sources in by_user.items():
            # Each user's events are marked with that user's journey, under the same holder.
            mine = None
            if outcome is not None:
                mine = replace(
                    outcome,
                    processed=[source.event_id for source in sources],
                    duplicates=[],
                    failures=[],
                )
            result = self._fold_user_alone(user_id, sources, mine)
            recorded += result.recorded
            replayed += result.replayed
            detected += result.nudges_detected
        if outcome is not None and (outcome.duplicates or outcome.failures):
            self._fold_once({}, replace(outcome, processed=[]))
        return FoldResult(recorded=recorded, replayed=replayed, nudges_detected=detected)

    def _fold_user_alone(
        self, user_id: str, sources: list[SourceEvent], outcome: BatchOutcome | None
    ) -> FoldResult:
        attempt = 1
        while True:
            try:
                return self._fold_once({user_id: sources}, outcome)
            except IntegrityError:
                if attempt >= MAX_CONFLICT_RETRIES:
                    raise
                attempt += 1

    def _evict(self, user_ids: Iterable[str]) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for user_id in user_ids:
            with contextlib.suppress(KeyError):
                cache.get(journey_id(user_id), evict=True)

    def load_journeys(self, user_ids: Sequence[str]) -> dict[str, UserJourney | None]:
        """Current journeys of a batch's users: cached ones brought up to date, in bulk."""
        return self._load_journeys(user_ids)[0]

    def _load_journeys(
        self, user_ids: Sequence[str]
    ) -> tuple[dict[str, UserJourney | None], int | None]:
        """The journeys, and the count of erasures they were read at (None: not counted).

        Two queries for the whole batch: the latest snapshot of each journey not in the
        cache, then every event from the version in hand on, with the store's count of
        erasures (``StoredHistory``). A journey another worker changed is therefore
        current here, and a version conflict stays a true race.

        A journey in hand (cached, or from a snapshot) at version V may be one the store
        no longer has: a user forgotten meanwhile by another process. Built on it, the
        next save would bring the forgotten history back, since no version conflict can
        tell. A cached journey last known to be the stored one at the count of erasures
        this process read last is trusted when the count has not moved: no history was
        deleted since (every erasure moves it in the commit that deletes, and the count
        is read in the events' snapshot); only its newer events are read. Any other
        journey in hand is trusted only if the store still has its event V as this
        process knew it (read with the newer ones), and is rebuilt from the stored events
        otherwise. If the count moved, the query is made again with no journey trusted.

        After this load, the batch's users cannot be forgotten before its save commits
        (an erasure waits for a batch in a worker's hands, and the save's fence refuses
        a batch whose events are gone), so the journeys saved are the stored ones at
        the count read here too (``_save_journeys``).
        """
        if self._history is None:
            return {user_id: self.get_journey(user_id) for user_id in user_ids}, None
        ids = {journey_id(user_id): user_id for user_id in user_ids}
        in_hand: dict[UUID, Any] = {}
        for key in ids:
            with contextlib.suppress(KeyError):
                in_hand[key] = self._cache.get(key)
        expected = self._erasures_read
        trusted = {
            key
            for key in in_hand
            if expected is not None and self._cache.erasures_seen(key) == expected
        }
        for stored in self._history.latest_snapshots([k for k in ids if k not in in_hand]):
            snapshot: Any = self.mapper.to_domain_event(stored)
            in_hand[snapshot.originator_id] = snapshot.mutate(None)
        held = {key: journey for key, journey in in_hand.items() if journey is not None}
        history = self._history.events_after(_versions(ids, held, trusted))
        if trusted and history.erasures != expected:
            trusted = set()
            history = self._history.events_after(_versions(ids, held, trusted))
        erasures = self._erasures_read = history.erasures
        replay = self._replay(history.events, held, trusted)
        if replay.stale:
            for key in replay.stale:
                with contextlib.suppress(KeyError):
                    self._cache.get(key, evict=True)
            logger.info(
                "journey in hand no longer stored, rebuilding",
                extra={"journeys": len(replay.stale)},
            )
            # Read at a count of erasures at least ``erasures``: stored at that one too.
            rebuilt = self._history.events_after(dict.fromkeys(replay.stale, 0))
            replayed = self._replay(rebuilt.events, {}, set())
            replay.journeys.update(replayed.journeys)
            replay.last_states.update(replayed.last_states)
        loaded: dict[str, UserJourney | None] = {}
        for key, user_id in ids.items():
            journey = replay.journeys.get(key)
            # A trusted journey without newer events is the cached one, as it was, with
            # the count read now: nothing to note.
            if journey is not None and key in replay.last_states:
                self._cache.put(key, journey, erasures=erasures)
                self._cache.remember_last(key, replay.last_states[key])
            loaded[user_id] = journey
        return loaded, erasures

    def _replay(
        self,
        stored_events: Iterable[StoredDomainEvent],
        held: Mapping[UUID, Any],
        trusted: Collection[UUID],
    ) -> _Replay:
        """Journeys brought up to date from their events, and the held ones found stale.

        For a held journey not ``trusted`` the first event is its own last one: the same
        bytes as when this process last stored or read it, or else (a journey from a
        snapshot) the same version and timestamp. A trusted one's are all newer.
        """
        replay = _Replay(journeys={key: held[key] for key in trusted})
        checked: set[UUID] = set(trusted)
        for stored in stored_events:
            key: Any = stored.originator_id
            if key in held and key not in checked:
                checked.add(key)
                if self._is_last_event(held[key], stored):
                    replay.journeys[key] = held[key]
                    replay.last_states[key] = stored.state
                else:
                    replay.stale.add(key)
                continue
            if key in replay.stale:
                continue
            domain_event: Any = self.mapper.to_domain_event(stored)
            replay.journeys[key] = domain_event.mutate(replay.journeys.get(key))
            replay.last_states[key] = stored.state
        replay.stale.update(key for key in held if key not in checked)
        return replay

    def _is_last_event(self, journey: Any, stored: StoredDomainEvent) -> bool:
        if stored.originator_version != journey.version:
            return False
        known = self._cache.last_stored(journey.id)
        if known is not None:
            return known == stored.state
        last: Any = self.mapper.to_domain_event(stored)
        return bool(last.timestamp == journey.modified_on)

    @contextlib.contextmanager
    def forgetting(self, user_id: str) -> Iterator[None]:
        """Hold folds back while a user is erased, then drop their journey from memory.

        A fold of this process loads, folds and saves under the same lock, so none can
        save the journey it loaded before the erasure after it.
        """
        with self._fold_lock:
            try:
                yield
            finally:
                self._evict([user_id])

    def _save_journeys(
        self,
        journeys: Sequence[UserJourney],
        outcome: BatchOutcome | None,
        erasures: int | None = None,
    ) -> None:
        """One ``save``: the journeys and the rest of the batch's unit of work.

        The journeys' events are stored by the recorder itself (``recorder.insert_events``
        with what ``mapper.to_stored_event`` makes of them), which is what
        ``Application.save`` comes to once it has told events and aggregates apart with a
        runtime protocol check per object (``isinstance`` against ``DomainEventProtocol``,
        about 10 microseconds per event on Python 3.11), and its event store has wrapped
        each stored event in a recording this save does not need. Nothing else of
        ``save`` applies here: no snapshot intervals, no notify hooks. The cache, which
        the save would have updated with the journeys, is updated here once they are
        stored, with the count of ``erasures`` they were loaded at.
        """
        events = [event for journey in journeys for event in journey.collect_events()]
        writes = BatchWrites(
            outcome,
            read_model_changes(events),
            PROJECTION_NAME,
            applied=[
                AppliedEvent(event.user_id, event.event_hash)
                for event in events
                if isinstance(event, UserJourney.ActivityRecorded)
            ],
        )
        stored_events = [self.mapper.to_stored_event(event) for event in events]
        self.recorder.insert_events(stored_events, batch=writes)
        first_new: dict[UUID, int] = {}
        last: dict[UUID, bytes] = {}
        for stored in stored_events:  # in order: each journey's last event comes last
            key: Any = stored.originator_id
            last[key] = stored.state
            first_new.setdefault(key, stored.originator_version)
        self._cache.saved(journeys, last, erasures=erasures)
        self._snapshot(journeys, first_new)

    def _snapshot(self, journeys: Sequence[UserJourney], first_new: Mapping[UUID, int]) -> None:
        """Snapshot a journey when a save takes it past a multiple of ``SNAPSHOT_INTERVAL``.

        Taken from the journey just saved, at its new version: eventsourcing's
        ``snapshotting_intervals`` would reload the journey from the store at the
        multiple first.
        """
        if self.snapshots is None:
            return
        snapshots = [
            UserJourney.Snapshot.take(journey)
            for journey in journeys
            if journey.id in first_new
            and journey.version // SNAPSHOT_INTERVAL
            > (first_new[journey.id] - 1) // SNAPSHOT_INTERVAL
        ]
        if snapshots:
            self.snapshots.put(snapshots)

    def _record_source(self, journey: UserJourney, source: SourceEvent, keep_days: int) -> None:
        entry = self.catalogue.event_type(source.event_type, source.app_source)
        journey.record(
            entry.journey_event,
            event_hash=source.event_hash,
            event_type=source.event_type,
            app_source=source.app_source,
            occurred_at=source.timestamp,
            marks=self.catalogue.marks_for(source.event_type, source.payload),
            keep_days=keep_days,
        )
        for insight in source.insights:
            journey.raise_insight(
                insight_id=insight.insight_id,
                kind=insight.kind,
                source_hashes=insight.source_hashes,
                data=dict(insight.data),
                messages=dict(insight.messages),
                created_at=insight.created_at,
                marks=self.catalogue.insight_marks_for(insight.kind, insight.data),
            )

    def _fold_once(
        self, by_user: Mapping[str, list[SourceEvent]], outcome: BatchOutcome | None
    ) -> FoldResult:
        try:
            return self._fold_and_save(by_user, outcome)
        except BaseException:
            # The cache holds the very objects this fold mutated: drop them, or a later
            # fold would build on events that were never saved.
            self._evict(by_user)
            raise

    def _fold_and_save(
        self, by_user: Mapping[str, list[SourceEvent]], outcome: BatchOutcome | None
    ) -> FoldResult:
        rules = self.catalogue.nudge_rules
        keep_days = self.catalogue.window_days
        changed: list[UserJourney] = []
        recorded = replayed = detected = 0
        # Asked before the journeys are loaded: an event another worker applies in
        # between is in the journey loaded, and its pair makes this save fail.
        applied = self._applied_events.already_applied(
            {AppliedEvent(user_id, s.event_hash) for user_id, ss in by_user.items() for s in ss}
        )
        loaded, erasures = self._load_journeys(list(by_user)) if by_user else ({}, None)
        choose = self._variants.for_batch(list(by_user)) if self._variants else None
        rank = self._ranks.for_batch(list(by_user)) if self._ranks else None
        for user_id, sources in by_user.items():
            journey = loaded[user_id] or UserJourney(user_id=user_id)
            for source in sorted(sources, key=lambda s: (s.timestamp, s.event_id)):
                pair = AppliedEvent(user_id, source.event_hash)
                if pair in applied:
                    replayed += 1
                else:
                    applied.add(pair)  # a twin later in the batch is skipped too
                    self._record_source(journey, source, keep_days)
                    recorded += 1
                detected += len(journey.detect_nudges(rules, source.timestamp, choose, rank))
            if journey.pending_events:
                changed.append(journey)
        if changed or outcome is not None:
            self._save_journeys(changed, outcome, erasures)
        return FoldResult(recorded=recorded, replayed=replayed, nudges_detected=detected)


def _versions(
    ids: Iterable[UUID], held: Mapping[UUID, Any], trusted: Collection[UUID]
) -> dict[UUID, int]:
    """The version to read each journey's events after: a trusted journey's own, the one
    before it for another journey in hand (its last event, to check), else 0."""
    return {
        key: held[key].version if key in trusted else held[key].version - 1 if key in held else 0
        for key in ids
    }
