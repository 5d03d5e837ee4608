"""What a drain did, and who is told of it: the CLI's progress, metrics, the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


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
    lost: int = 0
    """Events of batches that lost their lease before their save: left to their new holder."""
    duration_ms: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainSummary) -> None:
        self.claimed += other.claimed
        self.lost += other.lost
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
