"""Feeds the read models from the journeys' notification log, exactly once.

Pull-based on purpose: it works the same on SQLite (which cannot ``subscribe()``) and on
PostgreSQL. Each step reads the notifications after the tracking position and writes the
view changes together with the new position in one transaction, so a crash or a second
worker can neither skip nor repeat a notification.
"""

from __future__ import annotations

import logging

from src.application.journeys import JourneyApplication
from src.application.ports.read_models import ReadModelStore
from src.application.read_model_changes import PROJECTION_NAME, read_model_changes

logger = logging.getLogger(__name__)

STEP_SIZE = 1000


class ReadModelProjector:
    def __init__(
        self, journeys: JourneyApplication, store: ReadModelStore, step_size: int = STEP_SIZE
    ) -> None:
        self._journeys = journeys
        self._store = store
        self._step_size = step_size

    def run(self) -> int:
        """Project every notification recorded so far; returns how many were read."""
        total = 0
        while True:
            with self._store.projection(PROJECTION_NAME) as transaction:
                notifications = self._journeys.recorder.select_notifications(
                    start=transaction.position, limit=self._step_size, inclusive_of_start=False
                )
                if not notifications:
                    return total
                to_domain_event = self._journeys.mapper.to_domain_event
                changes = read_model_changes(to_domain_event(n) for n in notifications)
                transaction.write(changes, notifications[-1].id)
            total += len(notifications)
            logger.debug("projected", extra={"notifications": len(notifications)})
