"""Per-event analysis plugged into the worker (an AI enrichment, a skills gap)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from src.application.ports.inbox import StoredEvent
from src.domain.insights import Insight


class EventAnalyser(Protocol):
    """Per-event work that may be slow or fail (an AI enrichment, a skills gap).

    Runs under ``EVENT_CONCURRENCY``, bounded by ``EVENT_PROCESSING_TIMEOUT``; one
    user's events of a batch reach the analysers one after the other, in time order, so
    an analyser keeping state per user sees them as they happened. Raising fails that
    event only. The insights it hands back (``None``: none) are saved in the batch's
    commit with the event they came from, and rules may fire on them.
    """

    async def analyse(self, event: StoredEvent) -> Sequence[Insight] | None: ...
