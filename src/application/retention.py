"""Retention of the inbox: finished rows older than the window leave ``phoenix_events``.

The inbox is a work queue, not the history: a processed event lives on in its user's
journey (the journeys' event store, the journey entries, the applied events), a duplicate
is only a twin of an event kept there. Both leave once their processing is older than
``EVENT_RETENTION_DAYS``, so the table, its indexes and whatever walks them stay the size
of the window, not of the product's whole life. Everything else stays: events still to
process (pending, in hand, failed) and dead ones, which wait for an operator's requeue or
an erasure.

The rule has one home per store: the SQL function ``phoenix_private.phoenix_prune_events``
on PostgreSQL, and ``sqlalchemy_retention`` (this module's constants) on SQLite. Each call
of the store deletes one bounded batch in its own short transaction, so claims and saves
of the workers never wait long behind it; this service repeats batches until the window
is clean or its time budget is spent, and says which.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from src.application.ports.clock import Clock

logger = logging.getLogger(__name__)

PRUNED_STATUSES = ("processed", "duplicate")
"""The finished rows that leave with age; ``dead`` rows stay until requeued or forgotten.

A user's last processed event in each app stays too, however old: the degraded mode
(nudges offered before the worker detects them) reads from the inbox which apps a user
is active in, and must answer the same with the old rows gone."""
BATCH_SIZE = 5_000
"""Rows deleted per transaction: short enough that a delete never holds the table long."""
PRUNE_INTERVAL_SECONDS = 600.0
"""How often a worker prunes: rows leave at most ten minutes after their window ends."""
MAINTENANCE_INTERVAL_SECONDS = 60.0
"""How often a worker looks at the inbox's dead rows (and prunes, when that is due)."""
MAINTENANCE_BUDGET_SECONDS = 1.0
"""How long one pass of the worker may delete before it goes back to claiming."""
RECLAIM_MIN_DEAD_ROWS = 10_000
"""Dead row versions in the inbox from which a worker's pass reclaims them (a vacuum).

Every event finished leaves a dead entry at the start of the index the claim walks, until
a vacuum removes it; autovacuum waits for a fifth of the table to be dead (200,000 rows
at 1,000,000), or never comes (autovacuum off). Ten thousand entries are about 40 index
pages, a fraction of a millisecond of a claim."""


def cutoff(now: datetime, retention_days: int) -> datetime:
    """Finished rows processed before this instant leave."""
    return now - timedelta(days=retention_days)


@dataclasses.dataclass(frozen=True)
class PruneBatch:
    deleted: int
    last_id: int | None
    """The highest id deleted: the next batch starts after it (None: nothing deleted)."""


class RetentionStore(Protocol):
    def prune_batch(
        self, retention_days: int, now: datetime, after_id: int, limit: int
    ) -> PruneBatch:
        """Delete up to ``limit`` finished rows (``PRUNED_STATUSES``) processed before
        ``cutoff(now, retention_days)`` with an id above ``after_id``, lowest ids first, in
        one transaction; rows another transaction holds are skipped (left for next time)."""
        ...

    def reclaim_dead_rows(self, min_dead_rows: int) -> bool:
        """Reclaim the inbox's dead row versions (and their index entries) when the store
        counts at least ``min_dead_rows`` of them; True when it did. Never waits for
        another maintenance (autovacuum, another worker) of the table: it skips."""
        ...


@dataclasses.dataclass(frozen=True)
class PruneReport:
    deleted: int
    batches: int
    complete: bool
    """False when the time budget ended the pass before the window was clean."""
    older_than: datetime
    retention_days: int
    duration_ms: float
    reclaimed: bool = False
    """Whether the store then reclaimed the inbox's dead rows (a vacuum)."""


class EventRetention:
    def __init__(
        self,
        store: RetentionStore,
        clock: Clock,
        retention_days: int,
        batch_size: int = BATCH_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self._store = store
        self._clock = clock
        self._days = retention_days
        self._batch_size = batch_size
        self._monotonic = monotonic
        self._last_prune: float | None = None

    @property
    def retention_days(self) -> int:
        return self._days

    def prune(self, budget_seconds: float | None = None) -> PruneReport:
        """Delete old finished rows batch by batch, until none is left or the budget ends.

        The cut-off is taken once, at the start, so a pass always ends; a batch that finds
        fewer rows than its size found the last of them.
        """
        started = self._monotonic()
        now = self._clock.now()
        deleted = batches = 0
        after = 0
        complete = False
        while True:
            batch = self._store.prune_batch(self._days, now, after, self._batch_size)
            batches += 1
            deleted += batch.deleted
            if batch.last_id is None or batch.deleted < self._batch_size:
                complete = True
                break
            after = batch.last_id
            if budget_seconds is not None and self._monotonic() - started >= budget_seconds:
                break
        report = PruneReport(
            deleted=deleted,
            batches=batches,
            complete=complete,
            older_than=cutoff(now, self._days),
            retention_days=self._days,
            duration_ms=(self._monotonic() - started) * 1000,
        )
        if deleted:
            logger.info(
                "old finished events pruned",
                extra={
                    "deleted": deleted,
                    "batches": batches,
                    "complete": complete,
                    "retention_days": self._days,
                    "duration_ms": round(report.duration_ms, 1),
                },
            )
        return report

    def run_once(self) -> PruneReport:
        """``prune``'s whole pass (no budget), then the dead rows reclaimed if enough."""
        report = self.prune()
        reclaimed = self._store.reclaim_dead_rows(RECLAIM_MIN_DEAD_ROWS)
        return dataclasses.replace(report, reclaimed=reclaimed)

    def maintain(self) -> bool:
        """The worker's periodic pass: prune when due (every ``PRUNE_INTERVAL_SECONDS``,
        within ``MAINTENANCE_BUDGET_SECONDS``), then, once no old row is left, reclaim the
        dead rows when there are enough. True when old rows are left, so the next pass is
        due at once."""
        left = False
        due = self._last_prune is None or (
            self._monotonic() - self._last_prune >= PRUNE_INTERVAL_SECONDS
        )
        if due:
            left = not self.prune(MAINTENANCE_BUDGET_SECONDS).complete
            if not left:
                self._last_prune = self._monotonic()
        # Not while old rows are left: the passes follow each other, and each vacuum walks
        # every index of the table; the one after the last pass reclaims them all.
        if not left and self._store.reclaim_dead_rows(RECLAIM_MIN_DEAD_ROWS):
            logger.info("dead inbox rows reclaimed", extra={"min_dead_rows": RECLAIM_MIN_DEAD_ROWS})
        return left
