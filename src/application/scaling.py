"""The scaling signal: how many workers the queue can keep busy now.

An autoscaler (KEDA's PostgreSQL trigger, a job runner's script, the simulation test)
reads it to start or stop workers. On PostgreSQL its home is the SQL function
``phoenix_scaling_signal()``, which the autoscaler queries without any worker running;
on SQLite this module is the same rule, computed from the same counts.

``claimable`` counts every event a worker has yet to finish: pending, failed awaiting a
retry, and in a worker's hands. Counting those in hand keeps the answer steady while the
workers work: an autoscaler that saw only the events nobody holds would stop workers in
the middle of their batches, then start them again for the next ones.

``useful_workers`` is the smaller of one worker per batch of claimable events and the
number of users with claimable events: one user's events go to one worker at a time, so
a worker beyond that would only wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

UNFINISHED_STATUSES = ("pending", "failed", "processing")
"""The statuses of events a worker has yet to finish: what ``claimable`` counts."""

DEFAULT_BATCH_SIZE = 100
"""What the signal divides by while no worker nor ``migrate`` has written its own."""


@dataclass(frozen=True)
class ScalingSignal:
    claimable: int
    useful_workers: int
    oldest_pending_age_seconds: float | None
    """Age of the oldest pending event (by receipt); None when nothing is pending."""


def useful_workers(claimable: int, users: int, batch_size: int) -> int:
    """The smaller of ceil(claimable / batch_size) and the users with claimable events."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    return min(math.ceil(claimable / batch_size), users)


def scaling_signal(
    claimable: int, users: int, batch_size: int, oldest_pending: datetime | None, now: datetime
) -> ScalingSignal:
    return ScalingSignal(
        claimable=claimable,
        useful_workers=useful_workers(claimable, users, batch_size),
        oldest_pending_age_seconds=(
            None if oldest_pending is None else max((now - oldest_pending).total_seconds(), 0.0)
        ),
    )


class ScalingSignalSource(Protocol):
    """The store's scaling signal, as an autoscaler reads it."""

    def scaling_signal(self, now: datetime) -> ScalingSignal:
        """``now`` is used where the store's rule runs in Python; SQL uses its own clock."""
        ...


class WorkerSettingsStore(Protocol):
    """The worker settings the store's own rules need, written when a worker starts."""

    def publish(self, batch_size: int) -> None: ...
