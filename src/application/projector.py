"""Feeds the read models from the journeys' notification log, exactly once.

Pull-based on purpose: it works the same on SQLite (which cannot ``subscribe()``) and on
PostgreSQL. Each step reads the notifications after the tracking position and writes the
view changes together with the new position in one transaction, so a crash or a second
worker can neither skip nor repeat a notification.
"""

from __future__ import annotations

import logging

from src.application.journeys import JourneyApplication
from src.application.ports import JourneyEntry, NudgeRecord, ReadModelChanges, ReadModelStore
from src.domain.user_journey import UserJourney

logger = logging.getLogger(__name__)

PROJECTION_NAME = "journey_read_models"
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
                changes = ReadModelChanges()
                for notification in notifications:
                    self._translate(self._journeys.mapper.to_domain_event(notification), changes)
                transaction.write(changes, notifications[-1].id)
            total += len(notifications)
            logger.debug("projected", extra={"notifications": len(notifications)})

    @staticmethod
    def _translate(event: object, changes: ReadModelChanges) -> None:
        if isinstance(event, UserJourney.ActivityRecorded):
            changes.entries.append(
                JourneyEntry(
                    user_id=event.user_id,
                    event_hash=event.event_hash,
                    event_type=event.event_type,
                    app_source=event.app_source,
                    timestamp=event.occurred_at,
                )
            )
        elif isinstance(event, UserJourney.NudgeDetected):
            changes.nudges.append(
                NudgeRecord(
                    nudge_id=event.nudge_id,
                    user_id=event.user_id,
                    nudge_type=event.nudge_type,
                    shown_in=event.shown_in,
                    target_app=event.target_app,
                    status="active",
                    detected_at=event.detected_at,
                )
            )
        elif isinstance(event, UserJourney.NudgeConverted):
            changes.conversions.append((event.nudge_id, event.converted_at))
