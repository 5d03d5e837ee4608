"""Operator actions on the queue: putting events back to be processed again."""

from __future__ import annotations

from src.application.errors import RequestInvalidError
from src.application.ports.inbox import EventInbox, RequeueSelection
from src.domain.errors import EventRejectedError
from src.domain.events import utc_timestamp

# Ids per force-reprocess request. Far below the bound-parameter limits of the stores
# (65,535 on PostgreSQL, 32,766 on SQLite); more ids are refused rather than failing there.
MAX_REQUEUE_IDS = 10_000
# Event ids are 64-bit (``bigint``); a larger number can name no event.
MAX_EVENT_ID = 2**63 - 1


class QueueAdmin:
    """Operator actions on the queue."""

    def __init__(self, inbox: EventInbox) -> None:
        self._inbox = inbox

    def force_reprocess(self, selection: RequeueSelection) -> int:
        chosen = [
            selection.event_ids is not None,
            selection.since is not None,
            selection.status is not None,
        ]
        if sum(chosen) != 1:
            raise RequestInvalidError("body", "give exactly one of event_ids, since or status")
        if selection.status is not None and selection.status not in ("failed", "dead"):
            raise RequestInvalidError("status", "must be 'failed' or 'dead'")
        if selection.event_ids is not None:
            if len(selection.event_ids) > MAX_REQUEUE_IDS:
                raise RequestInvalidError(
                    "event_ids",
                    f"{len(selection.event_ids)} ids, at most {MAX_REQUEUE_IDS} per request; "
                    "send several requests, or select by since or status",
                )
            for index, event_id in enumerate(selection.event_ids):
                if not 1 <= event_id <= MAX_EVENT_ID:
                    raise RequestInvalidError(
                        f"event_ids.{index}", f"{event_id} is not an event id (1 to {MAX_EVENT_ID})"
                    )
        if selection.since is not None:
            try:
                utc_timestamp(selection.since, "since")
            except EventRejectedError as error:
                raise RequestInvalidError(error.field, error.message) from None
        return self._inbox.requeue(selection)
