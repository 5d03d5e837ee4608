"""The ingest use case: every event of a request checked before any is written, the
events written with those of the requests arriving meanwhile, the worker woken."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from src.application.errors import EventRefusedError, RequestInvalidError
from src.application.ports.inbox import AppendResult, EventInbox
from src.domain.catalogue import Catalogue
from src.domain.errors import EventRejectedError
from src.domain.event_hash import short_hash
from src.domain.events import NewEvent, new_event

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 1000


Commit = Callable[[Sequence[NewEvent]], Awaitable[AppendResult]]
"""Writes a request's events, with those of the requests that arrive meanwhile (a group
commit), and tells what became of them once committed."""


class EventIngestion:
    """Validates every event of a request before writing any, then appends them at once.

    A store that checks new events against the catalogue itself (PostgreSQL's insert
    check, which every client's inserts meet) is left to decide that part alone: its
    refusal is told with the field, and in a batch the event's index, as this check would.
    """

    def __init__(
        self, inbox: EventInbox, catalogue: Catalogue, *, store_checks_catalogue: bool = False
    ) -> None:
        self._inbox = inbox
        self._catalogue = catalogue
        self._store_checks_catalogue = store_checks_catalogue

    def validate(
        self, raw_events: Sequence[Mapping[str, object]], *, batch: bool = False
    ) -> list[NewEvent]:
        """Every event checked before any is written; in a batch, errors name the index."""
        if not raw_events:
            raise RequestInvalidError("events", "at least one event is required")
        if len(raw_events) > MAX_EVENTS_PER_REQUEST:
            raise RequestInvalidError(
                "events", f"{len(raw_events)} events, at most {MAX_EVENTS_PER_REQUEST} per request"
            )
        events: list[NewEvent] = []
        for index, raw in enumerate(raw_events):
            try:
                events.append(
                    new_event(
                        None if self._store_checks_catalogue else self._catalogue,
                        event_type=raw.get("event_type"),
                        app_source=raw.get("app_source"),
                        user_id=raw.get("user_id"),
                        payload=raw.get("payload"),
                        timestamp=raw.get("timestamp"),
                        idempotency_key=raw.get("idempotency_key"),
                    )
                )
            except EventRejectedError as error:
                if not batch:
                    raise
                field = f"events.{index}.{error.field}"
                raise type(error)(field, error.message) from None
        return events

    async def ingest(
        self,
        raw_events: Sequence[Mapping[str, object]],
        *,
        batch: bool = False,
        commit: Commit,
        wake: Callable[[], None],
    ) -> AppendResult:
        """The request's events checked (on the caller's event loop: no I/O), written by
        ``commit``, and ``wake`` called when any is new, so the worker processes them now
        rather than at its next poll (polling stays the guarantee)."""
        events = self.validate(raw_events, batch=batch)
        result = await self.commit(events, commit, batch=batch)
        if result.accepted:
            wake()
        return result

    def publish(
        self, raw_events: Sequence[Mapping[str, object]], *, batch: bool = False
    ) -> AppendResult:
        return self.append(self.validate(raw_events, batch=batch), batch=batch)

    def append(self, events: Sequence[NewEvent], *, batch: bool = False) -> AppendResult:
        """Append events validated elsewhere (the command line validates before connecting)."""
        try:
            result = self._inbox.append(events)
        except EventRefusedError as refused:
            raise located(refused, events, batch=batch) from None
        _log_duplicates([result])
        return result

    async def commit(
        self,
        events: Sequence[NewEvent],
        append: Commit,
        *,
        batch: bool = False,
    ) -> AppendResult:
        """``append`` (a group commit), its store's refusal told as ``append`` tells it."""
        try:
            return await append(events)
        except EventRefusedError as refused:
            raise located(refused, events, batch=batch) from None

    def append_groups(self, groups: Sequence[Sequence[NewEvent]]) -> list[AppendResult]:
        """Append the validated events of several requests in one transaction."""
        results = self._inbox.append_groups(groups)
        _log_duplicates(results)
        return results


def _log_duplicates(results: Sequence[AppendResult]) -> None:
    """One line per twin the store refused, in the words operators search the log for
    ("Duplicate event hash": normal, de-duplication at work; docs/operations.md,
    "Troubleshooting")."""
    for result in results:
        for event_hash in result.duplicate_hashes:
            logger.info(
                "Duplicate event hash (hash: %s)",
                short_hash(event_hash),
                extra={"event_hash": event_hash},
            )


def located(refused: EventRefusedError, events: Sequence[NewEvent], *, batch: bool) -> Exception:
    """The store's refusal of one of ``events``, its field prefixed with the event's index
    in a batch (``events.2.payload.stress_level``), as the flywheel's own check names it."""
    index = next((i for i, e in enumerate(events) if e.event_hash == refused.event_hash), None)
    field = refused.field if not batch or index is None else f"events.{index}.{refused.field}"
    return EventRejectedError(field, refused.message)
