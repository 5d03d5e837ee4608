"""How a drain claims and runs events: batch size, concurrency, timeouts, retries, leases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ProcessingPolicy:
    """How a drain claims and runs events: the ``EVENT_*`` settings (docs/configuration.md)."""

    batch_size: int = 100
    concurrency: int = 5
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    retry_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 600.0
    lease_seconds: float = 15.0
    projection_interval_seconds: float = 1.0

    @property
    def heartbeat_seconds(self) -> float:
        """How often a batch in hand renews its lease: three chances before it lapses."""
        return self.lease_seconds / 3

    def retry_delay(self, attempts: int) -> timedelta:
        """Exponential backoff: base, 2 x base, 4 x base ... capped."""
        seconds = self.retry_backoff_seconds * (2 ** max(attempts - 1, 0))
        return timedelta(seconds=min(seconds, self.max_backoff_seconds))
