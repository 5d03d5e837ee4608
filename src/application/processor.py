"""The event queue processor: claim a batch, de-duplicate, analyse in parallel, fold, project.

The steps of a batch, and why they are safe to repeat:

1. claim (a short transaction of its own, with a lease): a crashed worker's events come
   back when the lease expires;
2. hash rows that arrived without one; a twin makes the row a ``duplicate``;
3. run the analysers per event, ``concurrency`` at a time, each bounded by ``timeout``;
   a failure is retried with exponential backoff, then the event is ``dead``;
4. fold the survivors into journeys and save them once; the journey ignores a hash it
   already applied, so a crash between this step and the next double-counts nothing;
5. mark the batch's outcome in one transaction, then project the read models. On
   PostgreSQL both happen in the transaction of step 4 (see ``TransactionalBatchRecorder``),
   and the projection step finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from src.application.journeys import JourneyApplication, SourceEvent
from src.application.ports import (
    BatchOutcome,
    Clock,
    EventAnalyser,
    EventInbox,
    Failure,
    StoredEvent,
)
from src.application.projector import ReadModelProjector
from src.domain.catalogue import Catalogue
from src.domain.errors import EventRejectedError
from src.domain.event_hash import compute_event_hash, short_hash
from src.domain.events import check_payload

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessingPolicy:
    """The knobs of section 6 of the brief (``EVENT_*`` settings)."""

    batch_size: int = 100
    concurrency: int = 5
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    retry_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 600.0
    lease_seconds: float = 300.0
    projection_interval_seconds: float = 1.0

    def retry_delay(self, attempts: int) -> timedelta:
        """Exponential backoff: base, 2 x base, 4 x base ... capped."""
        seconds = self.retry_backoff_seconds * (2 ** max(attempts - 1, 0))
        return timedelta(seconds=min(seconds, self.max_backoff_seconds))


@dataclass
class DrainSummary:
    """What a drain (or one batch) did; added up batch by batch."""

    claimed: int = 0
    processed: int = 0
    duplicates: int = 0
    failed: int = 0
    dead: int = 0
    nudges_detected: int = 0
    batches: int = 0
    duration_ms: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainSummary) -> None:
        self.claimed += other.claimed
        self.processed += other.processed
        self.duplicates += other.duplicates
        self.failed += other.failed
        self.dead += other.dead
        self.nudges_detected += other.nudges_detected
        self.batches += other.batches
        self.errors.extend(other.errors)


ProgressCallback = Callable[[DrainSummary], None]


class ProcessingObserver(Protocol):
    """Told of each batch and each finished drain (metrics, the dashboard); never fails one."""

    def batch_processed(self, summary: DrainSummary) -> None: ...

    def drain_finished(self, summary: DrainSummary) -> None: ...


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

    async def drain(
        self,
        on_progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> DrainSummary:
        """Process batches until nothing is claimable now (or ``should_stop()``), with totals.

        ``should_stop`` is checked between batches, so a shutdown finishes the batch in hand.
        """
        started = time.perf_counter()
        total = DrainSummary()
        while not should_stop():
            batch = await self.process_batch()
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

    async def process_batch(self) -> DrainSummary:
        """Claim and process one batch; a summary with ``claimed == 0`` means the queue is idle."""
        started = time.perf_counter()
        now = self._clock.now()
        policy = self._policy
        claimed = self._inbox.claim(
            policy.batch_size, now, now + timedelta(seconds=policy.lease_seconds)
        )
        summary = DrainSummary(claimed=len(claimed), batches=1 if claimed else 0)
        if not claimed:
            return summary
        try:
            duplicates, failures, candidates = self._triage(claimed)
            analysed, analysis_failures = await self._analyse(candidates)
        except asyncio.CancelledError:
            # Shutdown: nothing of this batch was saved, so it goes back untouched.
            self._inbox.release([event.id for event in claimed])
            raise
        failures.extend(analysis_failures)
        outcome = BatchOutcome(
            [source.event_id for source in analysed], duplicates, failures, self._clock.now()
        )
        try:
            # The journeys' recorder may write the outcome with them, in one commit.
            fold = self._journeys.fold(analysed, outcome)
            if not fold.outcome_recorded:
                self._inbox.complete(outcome)
        except Exception as error:
            self._fail_batch(claimed, error)
            raise
        self._project(force=False)
        summary.processed = len(analysed)
        summary.duplicates = len(duplicates)
        summary.failed = sum(1 for failure in failures if failure.retry_at is not None)
        summary.dead = sum(1 for failure in failures if failure.retry_at is None)
        summary.nudges_detected = fold.nudges_detected
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

    def _fail_batch(self, claimed: Sequence[StoredEvent], error: Exception) -> None:
        """Count the attempt of every event of a batch that could not be saved.

        Best effort: when the store itself is gone this fails too, and the lease brings
        the events back instead. Counting the attempt (rather than releasing) keeps an
        event that breaks the fold from looping forever: it ends ``dead`` like any other.
        """
        message = f"batch failed: {describe(error)}"
        logger.warning("batch failed", extra={"events": len(claimed), "error": message})
        try:
            failures = [self._failure(event, message, quiet=True) for event in claimed]
            self._inbox.complete(BatchOutcome([], [], failures, self._clock.now()))
        except Exception:  # noqa: BLE001 - the original error is the one worth raising
            logger.warning("could not record the batch failure; the lease will expire")

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
    ) -> tuple[list[int], list[Failure], list[tuple[StoredEvent, str]]]:
        """Split a claim into duplicates, events out of attempts, and candidates with a hash."""
        duplicates: list[int] = []
        failures: list[Failure] = []
        candidates: list[tuple[StoredEvent, str]] = []
        for event in claimed:
            if event.attempts > self._policy.max_attempts:
                # Only a worker that died holding the event gets here: its lease expired
                # this many times, so the event may itself be what kills workers.
                failures.append(
                    Failure(event.id, f"gave up after {event.attempts - 1} attempts", None)
                )
                continue
            event_hash = event.event_hash
            if event_hash is None:
                event_hash = compute_event_hash(
                    event.event_type,
                    event.app_source,
                    event.user_id,
                    event.payload,
                    event.idempotency_key,
                )
                if not self._inbox.assign_hash(event.id, event_hash):
                    logger.info(
                        "event already processed (hash: %s)",
                        short_hash(event_hash),
                        extra={"event_id": event.id, "event_hash": event_hash},
                    )
                    duplicates.append(event.id)
                    continue
            candidates.append((event, event_hash))
        return duplicates, failures, candidates

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
            else:
                checked.append((event, event_hash))
        if self._analysers:
            # Only analysers can be slow: without any, no task per event is worth its cost.
            semaphore = asyncio.Semaphore(self._policy.concurrency)
            outcomes = await asyncio.gather(
                *(self._analyse_one(event, semaphore) for event, _ in checked)
            )
            failures.extend(outcome for outcome in outcomes if outcome is not None)
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

    async def _analyse_one(
        self, event: StoredEvent, semaphore: asyncio.Semaphore
    ) -> Failure | None:
        """All analysers on one event, bounded by the timeout; a failure fails this event."""
        async with semaphore:
            try:
                await asyncio.wait_for(self._run_analysers(event), self._policy.timeout_seconds)
            except TimeoutError:
                return self._failure(
                    event,
                    f"Processing timeout after {self._policy.timeout_seconds:g}s "
                    "(raise EVENT_PROCESSING_TIMEOUT if this is expected)",
                )
            except Exception as error:  # noqa: BLE001 - an analyser fault fails its event only
                return self._failure(event, describe(error))
        return None

    async def _run_analysers(self, event: StoredEvent) -> None:
        for analyser in self._analysers:
            await analyser.analyse(event)

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


def describe(error: BaseException) -> str:
    """One line for logs and ``ai_processing_error``: drivers append SQL and parameters."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"[:500]
