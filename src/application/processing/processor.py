"""The event queue processor: claim a batch, de-duplicate, analyse in parallel, fold, project.

The steps of a batch, and why they are safe to repeat:

1. claim (a short transaction of its own, with a short lease that a heartbeat renews while
   the batch is in hand): a crashed worker's events come back within seconds, when nobody
   renews their lease; a batch cut off by a lost connection is given back by its worker
   as soon as the store answers again;
2. hash rows that arrived without one; a twin makes the row a ``duplicate``, the others
   take their hashes with their marks in step 4; a row that could not even be decoded
   is ``dead`` at once, alone;
3. run the analysers per event, ``concurrency`` at a time, each bounded by ``timeout``;
   a failure is retried with exponential backoff, then the event is ``dead``;
4. fold the survivors into journeys and save them once, in one unit of work with the
   batch's outcome and the read-model rows of its events (``BatchWrites``): on every
   store they commit together or not at all, and only while the batch still holds its
   events (its holder is the commit's fencing token). When that save fails for a
   reason of the data, the batch is saved in halves, and so on, until the events that
   cannot be saved are alone: only they count a failure. A failure of the store itself
   blames no event, and a batch that lost its lease leaves its events to their new
   holder;
5. project the read models: the pull projection catches up with what a batch could not
   project itself (notifications saved out of order by other workers).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from src.application.errors import LeaseLostError
from src.application.journeys import JourneyApplication, SourceEvent
from src.application.ports.analysers import EventAnalyser
from src.application.ports.clock import Clock
from src.application.ports.inbox import BatchOutcome, EventInbox, Failure, StoredEvent
from src.application.processing.describe import describe
from src.application.processing.heartbeat import Heartbeat
from src.application.processing.policy import ProcessingPolicy
from src.application.processing.summary import (
    DrainSummary,
    ProcessingObserver,
    ProgressCallback,
)
from src.application.projector import ReadModelProjector
from src.domain.catalogue import Catalogue
from src.domain.errors import EventRejectedError
from src.domain.event_hash import compute_event_hash, short_hash
from src.domain.events import check_payload
from src.domain.insights import Insight, InsightInvalidError

logger = logging.getLogger(__name__)


class EventQueueProcessor:
    def __init__(
        self,
        inbox: EventInbox,
        journeys: JourneyApplication,
        projector: ReadModelProjector,
        catalogue: Catalogue,
        clock: Clock,
        policy: ProcessingPolicy,
        analysers: Sequence[EventAnalyser] = (),
        observer: ProcessingObserver | None = None,
        worker_id: str | None = None,
    ) -> None:
        self._inbox = inbox
        self._journeys = journeys
        self._projector = projector
        self._catalogue = catalogue
        self._clock = clock
        self._policy = policy
        self._analysers = tuple(analysers)
        self._projected_at = float("-inf")
        self._observer = observer
        # Each batch is claimed under a name of its own (``locked_by``): its heartbeat
        # renews that batch's leases, and a batch cut off mid-way is given back by name.
        self._worker_id = worker_id or uuid.uuid4().hex[:12]
        self._batch_numbers = itertools.count(1)
        self._stranded: set[str] = set()
        self._heartbeat = Heartbeat(self._renew, policy.heartbeat_seconds)

    async def drain(
        self,
        on_progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        max_events: int | None = None,
    ) -> DrainSummary:
        """Process batches until nothing is claimable now (or ``should_stop()``), with totals.

        ``should_stop`` is checked between batches, so a shutdown finishes the batch in hand.
        With ``max_events``, no more than that many events are claimed: the last batch is
        claimed smaller, so a bounded run never takes events it is not to process.
        """
        started = time.perf_counter()
        total = DrainSummary()
        while not should_stop():
            room = None if max_events is None else max_events - total.claimed
            if room is not None and room <= 0:
                break
            batch = await self.process_batch(limit=room)
            if batch.claimed == 0:
                break
            total.add(batch)
            if self._observer is not None:
                self._observer.batch_processed(batch)
            if on_progress is not None:
                on_progress(total)
        self._project(force=True)
        total.duration_ms = (time.perf_counter() - started) * 1000
        if self._observer is not None:
            self._observer.drain_finished(total)
        return total

    async def process_batch(self, limit: int | None = None) -> DrainSummary:
        """Claim and process one batch (of at most ``limit`` events when given, never more
        than the batch size); a summary with ``claimed == 0`` means the queue is idle."""
        started = time.perf_counter()
        self._give_back_stranded()
        now = self._clock.now()
        policy = self._policy
        holder = f"{self._worker_id}:{next(self._batch_numbers)}"
        size = policy.batch_size if limit is None else max(min(limit, policy.batch_size), 1)
        try:
            claimed = self._inbox.claim(
                size, now, now + timedelta(seconds=policy.lease_seconds), holder
            )
        except Exception:
            # The claim may have committed before its answer was lost with the connection.
            self._stranded.add(holder)
            raise
        summary = DrainSummary(claimed=len(claimed), batches=1 if claimed else 0)
        if not claimed:
            return summary
        with self._heartbeat.holding(holder):
            try:
                duplicates, failures, candidates, hashes = self._triage(claimed)
                analysed, analysis_failures = await self._analyse(candidates)
                failures.extend(analysis_failures)
                detected, save_failures = self._save(
                    claimed, analysed, duplicates, failures, holder, hashes
                )
            except asyncio.CancelledError:
                # Shutdown: nothing of this batch was saved, so it goes back untouched.
                self._stranded.add(holder)
                self._inbox.give_back([holder])
                self._stranded.discard(holder)
                raise
            except LeaseLostError:
                # Stalled past its lease: the events are another batch's now, or were
                # finished or erased. Nothing was written; nothing is given back.
                logger.warning(
                    "batch lost its lease before its save; nothing of it was written",
                    extra={"holder": holder, "events": len(claimed)},
                )
                summary.lost = len(claimed)
                summary.duration_ms = (time.perf_counter() - started) * 1000
                return summary
            except Exception as error:
                if self._store_failed(error):
                    # The store failed us mid-batch: no event is to blame, and what was
                    # not saved goes back, uncounted, as soon as the store answers.
                    self._stranded.add(holder)
                # Otherwise an event may be what breaks the batch: the lease brings it
                # back with the attempt counted, so that such an event ends ``dead``.
                raise
        failures.extend(save_failures)
        self._project(force=False)
        summary.processed = len(analysed) - len(save_failures)
        summary.duplicates = len(duplicates)
        summary.failed = sum(1 for failure in failures if failure.retry_at is not None)
        summary.dead = sum(1 for failure in failures if failure.retry_at is None)
        summary.nudges_detected = detected
        summary.errors = [failure.error for failure in failures]
        summary.duration_ms = (time.perf_counter() - started) * 1000
        logger.debug(
            "batch processed",
            extra={
                "claimed": summary.claimed,
                "processed": summary.processed,
                "duplicates": summary.duplicates,
                "failed": summary.failed,
                "dead": summary.dead,
                "nudges_detected": summary.nudges_detected,
                "duration_ms": round(summary.duration_ms, 1),
            },
        )
        return summary

    def _give_back_stranded(self) -> None:
        """Hand back what batches cut off by the store still hold, once it answers again.

        Their leases would expire by themselves; giving them back at once lets this and
        every other worker take them now. Best effort: while the store is still away,
        the claim that follows fails anyway and the worker retries later.
        """
        if not self._stranded:
            return
        holders = sorted(self._stranded)
        try:
            given_back = self._inbox.give_back(holders)
        except Exception as error:  # noqa: BLE001 - the lease remains the fallback
            logger.debug(
                "could not give back interrupted batches yet", extra={"error": describe(error)}
            )
            return
        self._stranded.difference_update(holders)
        if given_back:
            logger.info(
                "events of interrupted batches given back to the queue",
                extra={"events": given_back, "batches": len(holders)},
            )

    def _renew(self, holder: str) -> None:
        try:
            self._inbox.renew(
                holder, self._clock.now() + timedelta(seconds=self._policy.lease_seconds)
            )
        except Exception as error:  # noqa: BLE001 - the next beat tries again
            logger.warning(
                "could not renew the lease of a batch in hand",
                extra={"holder": holder, "error": describe(error)},
            )

    def _save(
        self,
        claimed: Sequence[StoredEvent],
        analysed: list[SourceEvent],
        duplicates: list[int],
        failures: list[Failure],
        holder: str,
        hashes: Mapping[int, str],
    ) -> tuple[int, list[Failure]]:
        """Save the batch at once; if that fails for a reason of the data, isolate the fault.

        Returns the nudges detected and the events that could not be saved. A failure the
        store itself causes (unreachable, connections cut) is raised, as is the loss of the
        lease: no event is to blame for either, and neither is worth saving in parts.

        Rows that arrived without a hash take it with their marks (``hashes``), and the
        unique hash decides: a twin committed since the triage fails the save, so after a
        failed save the twins are looked for again, and the batch saved once more with
        them as duplicates (moved there from ``analysed`` and ``failures``, in place).
        """
        saved = self._commit_whole(analysed, duplicates, failures, holder, hashes)
        if isinstance(saved, int):
            return saved, []
        twins = self._inbox.twins(hashes) if hashes else set()
        if twins:
            for event_id in sorted(twins):
                _log_twin(event_id, hashes[event_id])
            duplicates.extend(sorted(twins))
            analysed[:] = [source for source in analysed if source.event_id not in twins]
            failures[:] = [failed for failed in failures if failed.event_id not in twins]
            saved = self._commit_whole(analysed, duplicates, failures, holder, hashes)
            if isinstance(saved, int):
                return saved, []
        logger.warning(
            "batch save failed; saving it in parts to find the events at fault",
            extra={"events": len(analysed), "error": describe(saved)},
        )
        by_id = {event.id: event for event in claimed}
        # Parts keep a user's events together and in order, as far as halving allows.
        ordered = sorted(analysed, key=lambda s: (s.user_id, s.timestamp, s.event_id))
        save_failures: list[Failure] = []
        detected = self._isolate(ordered, by_id, save_failures, holder, hashes)
        self._commit([], self._outcome([], duplicates, [*failures, *save_failures], holder, hashes))
        return detected, save_failures

    def _commit_whole(
        self,
        analysed: Sequence[SourceEvent],
        duplicates: Sequence[int],
        failures: Sequence[Failure],
        holder: str,
        hashes: Mapping[int, str],
    ) -> int | Exception:
        """The batch saved at once: the nudges detected, or the error of the data that
        failed the save. The store's own failures and a lost lease are raised."""
        try:
            return self._commit(
                analysed, self._outcome(analysed, duplicates, failures, holder, hashes)
            )
        except LeaseLostError:
            raise
        except Exception as error:
            if self._store_failed(error):
                raise
            return error

    def _outcome(
        self,
        sources: Sequence[SourceEvent],
        duplicates: Sequence[int],
        failures: Sequence[Failure],
        holder: str,
        hashes: Mapping[int, str],
    ) -> BatchOutcome:
        """The marks of these events, each row without a hash taking its own with them."""
        processed = [source.event_id for source in sources]
        marked = [*processed, *(failure.event_id for failure in failures)]
        return BatchOutcome(
            processed,
            duplicates,
            failures,
            self._clock.now(),
            holder,
            {event_id: hashes[event_id] for event_id in marked if event_id in hashes},
        )

    def _isolate(
        self,
        sources: Sequence[SourceEvent],
        by_id: dict[int, StoredEvent],
        failures: list[Failure],
        holder: str,
        hashes: Mapping[int, str],
    ) -> int:
        """Save ``sources``, whose save together failed, in halves, recursively.

        The events that fail alone are the guilty ones: each counts an attempt (retried
        with backoff, then dead); every other event is saved and marked in this drain.
        """
        if not sources:
            return 0
        if len(sources) == 1:
            # Once more, alone: a passing fault (a deadlock, say) does not blame the
            # event; a fault of the event fails again.
            try:
                return self._commit(sources, self._outcome(sources, [], [], holder, hashes))
            except LeaseLostError:
                raise
            except Exception as again:
                if self._store_failed(again):
                    raise
                event = by_id[sources[0].event_id]
                failures.append(self._failure(event, f"save failed: {describe(again)}"))
                return 0
        middle = len(sources) // 2
        detected = 0
        for part in (sources[:middle], sources[middle:]):
            try:
                detected += self._commit(part, self._outcome(part, [], [], holder, hashes))
            except LeaseLostError:
                raise
            except Exception as error:
                if self._store_failed(error):
                    raise
                detected += self._isolate(part, by_id, failures, holder, hashes)
        return detected

    def _store_failed(self, error: Exception) -> bool:
        """Whether the store, not the data, failed: said by the error itself, or, for an
        error no adapter recognised, by a store that does not answer now."""
        return self._inbox.is_outage(error) or not self._inbox.reachable()

    def _commit(self, sources: Sequence[SourceEvent], outcome: BatchOutcome) -> int:
        """Fold and save ``sources`` and mark ``outcome``, in one commit; the nudges detected."""
        return self._journeys.fold(sources, outcome).nudges_detected

    def _project(self, *, force: bool) -> None:
        """Bring the read models up to date, at most once per interval during a long drain.

        Projecting after every batch of a large backlog costs more than the batch itself;
        a drain always projects when it ends, so nothing waits longer than one interval.
        """
        now = time.monotonic()
        if force or now - self._projected_at >= self._policy.projection_interval_seconds:
            self._projector.run()
            self._projected_at = now

    def _triage(
        self, claimed: Sequence[StoredEvent]
    ) -> tuple[list[int], list[Failure], list[tuple[StoredEvent, str]], dict[int, str]]:
        """Split a claim into duplicates, events out of attempts, and candidates with a hash.

        Rows that arrived without a hash are hashed here, and their twins looked up all
        at once (``twins``: a statement per row made such rows many times slower than
        rows published with their hash). The others' hashes come back: each row takes its
        own with its marks, in the save (one new version of the row less than assigning
        them here).
        """
        failures: list[Failure] = []
        hashed: list[tuple[StoredEvent, str]] = []
        new_hashes: dict[int, str] = {}
        for event in claimed:
            if event.unreadable is not None:
                failures.append(
                    self._failure(event, f"unreadable row: {event.unreadable}", permanent=True)
                )
                continue
            if event.attempts > self._policy.max_attempts:
                # Only a worker that died holding the event gets here: its lease expired
                # this many times, so the event may itself be what kills workers.
                failures.append(
                    Failure(event.id, f"gave up after {event.attempts - 1} attempts", None)
                )
                continue
            event_hash = event.event_hash
            if event_hash is None:
                try:
                    event_hash = compute_event_hash(
                        event.event_type,
                        event.app_source,
                        event.user_id,
                        event.payload,
                        event.idempotency_key,
                    )
                except Exception as error:  # noqa: BLE001 - e.g. a payload too deep to encode
                    failures.append(
                        self._failure(event, f"cannot hash: {describe(error)}", permanent=True)
                    )
                    continue
                new_hashes[event.id] = event_hash
            hashed.append((event, event_hash))
        twins = self._inbox.twins(new_hashes) if new_hashes else set()
        duplicates: list[int] = []
        candidates: list[tuple[StoredEvent, str]] = []
        for event, event_hash in hashed:
            if event.id in twins:
                _log_twin(event.id, event_hash)
                duplicates.append(event.id)
                del new_hashes[event.id]
            else:
                candidates.append((event, event_hash))
        return duplicates, failures, candidates, new_hashes

    async def _analyse(
        self, candidates: Sequence[tuple[StoredEvent, str]]
    ) -> tuple[list[SourceEvent], list[Failure]]:
        """Check every candidate, then run the analysers on the valid ones in parallel."""
        checked: list[tuple[StoredEvent, str]] = []
        failures: list[Failure] = []
        for event, event_hash in candidates:
            try:
                self._check(event)
            except EventRejectedError as error:
                failures.append(self._failure(event, f"invalid event: {error}", permanent=True))
            except Exception as error:  # noqa: BLE001 - e.g. a payload too deep to measure
                failures.append(
                    self._failure(event, f"invalid event: {describe(error)}", permanent=True)
                )
            else:
                checked.append((event, event_hash))
        insights: dict[int, list[Insight]] = {}
        if self._analysers:
            # Only analysers can be slow: without any, no task is worth its cost.
            by_user: dict[str, list[StoredEvent]] = {}
            for event, _ in checked:
                by_user.setdefault(event.user_id, []).append(event)
            for user_outcomes in await self._analyse_users(list(by_user.values())):
                for event_id, outcome in user_outcomes:
                    if isinstance(outcome, Failure):
                        failures.append(outcome)
                    elif outcome:
                        insights[event_id] = outcome
            failed = {failure.event_id for failure in failures}
            checked = [(event, h) for event, h in checked if event.id not in failed]
        analysed = [
            SourceEvent(
                event_id=event.id,
                event_hash=event_hash,
                event_type=event.event_type,
                app_source=event.app_source,
                user_id=event.user_id,
                timestamp=event.timestamp,
                payload=event.payload,
                insights=tuple(insights.get(event.id, ())),
            )
            for event, event_hash in checked
        ]
        return analysed, failures

    def _check(self, event: StoredEvent) -> None:
        """The row against the catalogue: it may come from a manual INSERT."""
        entry = self._catalogue.event_type(event.event_type, event.app_source)
        entry.check_payload(check_payload(event.payload))
        if not event.user_id:
            raise EventRejectedError("user_id", "a non-empty user id is required")

    async def _analyse_users(
        self, users: Sequence[Sequence[StoredEvent]]
    ) -> list[list[tuple[int, Failure | list[Insight]]]]:
        """Each user's events through the analysers, ``concurrency`` events at a time.

        As many runners as events may run at once, each taking the next user and going
        through that user's events in time order: an analyser that keeps state per user
        (an offer, then a CV) sees them as they happened. A task per user, and another
        per event (``wait_for``), cost more than most analysers do: they answer at once.
        """
        outcomes: list[list[tuple[int, Failure | list[Insight]]]] = [[] for _ in users]
        turns = iter(range(len(users)))

        async def runner() -> None:
            for turn in turns:
                ordered = sorted(users[turn], key=lambda e: (e.timestamp, e.id))
                outcomes[turn] = [(event.id, await self._analyse_one(event)) for event in ordered]

        await asyncio.gather(*(runner() for _ in range(min(self._policy.concurrency, len(users)))))
        return outcomes

    async def _analyse_one(self, event: StoredEvent) -> Failure | list[Insight]:
        """All analysers on one event, bounded by the timeout; a failure fails this event."""
        try:
            async with asyncio.timeout(self._policy.timeout_seconds):
                return await self._run_analysers(event)
        except TimeoutError:
            return self._failure(
                event,
                f"Processing timeout after {self._policy.timeout_seconds:g}s "
                "(raise EVENT_PROCESSING_TIMEOUT if this is expected)",
            )
        except Exception as error:  # noqa: BLE001 - an analyser fault fails its event only
            return self._failure(event, describe(error))

    async def _run_analysers(self, event: StoredEvent) -> list[Insight]:
        """Every analyser's insights on the event; one about another user is refused."""
        found: list[Insight] = []
        for analyser in self._analysers:
            result = await analyser.analyse(event)
            for insight in result or ():
                if not isinstance(insight, Insight):
                    raise InsightInvalidError(
                        "type", f"{type(analyser).__name__} returned a {type(insight).__name__}"
                    )
                if insight.user_id != event.user_id:
                    raise InsightInvalidError("user_id", "must be the event's user")
                found.append(insight)
        return found

    def _failure(
        self, event: StoredEvent, error: str, *, permanent: bool = False, quiet: bool = False
    ) -> Failure:
        dead = permanent or event.attempts >= self._policy.max_attempts
        if not quiet:
            logger.warning(
                "event dead" if dead else "event failed, will retry",
                extra={"event_id": event.id, "attempts": event.attempts, "error": error},
            )
        if dead:
            return Failure(event.id, error, None)
        return Failure(
            event.id, error, self._clock.now() + self._policy.retry_delay(event.attempts)
        )


def _log_twin(event_id: int, event_hash: str) -> None:
    logger.info(  # the words operators search for (docs/operations.md, Troubleshooting)
        "Événement déjà traité (hash: %s)",
        short_hash(event_hash),
        extra={"event_id": event_id, "event_hash": event_hash},
    )
