"""The right to erasure: forget a user, everywhere the flywheel keeps something of them.

Their journey is event-sourced, and its stream is deleted outright (docs/adr/0006 says
why not crypto-shredding). What could bring a forgotten user back, and what stops it:

* a fold of this process holding the journey: the erasure waits for the fold lock, then
  drops the journey from memory (``JourneyApplication.forgetting``);
* a worker of another process that cached it, or a snapshot written at the last moment:
  every erasure moves the store's count of erasures in its own commit, and a journey in
  hand is trusted only while that count has not moved since the journey was last known
  stored, or else while the store still has its last event
  (``JourneyApplication.load_journeys``);
* events of the user in a worker's hands (``processing`` under a live lease): the store
  refuses the erasure (``UserBusyError``) until that batch is saved, and the erasure is
  retried for a while; pending events are simply removed with the rest.
"""

from __future__ import annotations

import logging
import time

from src.application.errors import RequestInvalidError, UserBusyError
from src.application.journeys import JourneyApplication
from src.application.ports.clock import Clock
from src.application.ports.erasure import ErasureReport, UserEraser
from src.domain.user_journey import journey_id

logger = logging.getLogger(__name__)

BUSY_WAIT_SECONDS = 10.0
"""How long an erasure waits for a batch of the user to be saved: batches take
milliseconds; a worker that died holding one keeps it until its lease expires."""
BUSY_PAUSE_SECONDS = 0.05


class UserErasure:
    def __init__(
        self,
        eraser: UserEraser,
        journeys: JourneyApplication,
        clock: Clock,
        busy_wait_seconds: float = BUSY_WAIT_SECONDS,
    ) -> None:
        self._eraser = eraser
        self._journeys = journeys
        self._clock = clock
        self._busy_wait = busy_wait_seconds

    def forget(self, user_id: str) -> ErasureReport:
        """Remove every row about ``user_id``; idempotent (a second call removes nothing).

        An unknown user is no error: there is simply nothing to remove.
        """
        if not isinstance(user_id, str) or not user_id.strip():
            raise RequestInvalidError("user_id", "a non-empty user id is required")
        deadline = time.monotonic() + self._busy_wait
        while True:
            try:
                with self._journeys.forgetting(user_id):
                    report = self._eraser.forget(user_id, journey_id(user_id), self._clock.now())
            except UserBusyError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(BUSY_PAUSE_SECONDS)
                continue
            logger.info("user forgotten", extra={"rows_removed": report.total})
            return report
