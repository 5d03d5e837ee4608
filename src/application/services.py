"""The use cases the command line and the HTTP API call: one method per request."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from src.application.errors import (
    EventRefusedError,
    NudgeNotFoundError,
    RequestInvalidError,
    UserNotFoundError,
)
from src.application.experiments import ExperimentReport, experiment_reports
from src.application.insight_policy import InsightBoard, UserInsight
from src.application.nudge_choice import SlotReport, slot_reports
from src.application.nudge_policy import ActiveNudge
from src.application.nudge_ports import NudgeBoard
from src.application.ports import (
    AppendResult,
    Clock,
    EcosystemFigures,
    EventInbox,
    Journey,
    QueueStatus,
    ReadModelStore,
    RequeueSelection,
)
from src.domain.catalogue import Catalogue
from src.domain.errors import EventRejectedError
from src.domain.event_hash import short_hash
from src.domain.events import NewEvent, new_event, utc_timestamp
from src.domain.experiments import ExperimentBook
from src.domain.nudges import DEFAULT_LANGUAGE

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 1000
# Ids per force-reprocess request. Far below the bound-parameter limits of the stores
# (65,535 on PostgreSQL, 32,766 on SQLite); more ids are refused rather than failing there.
MAX_REQUEUE_IDS = 10_000
# Event ids are 64-bit (``bigint``); a larger number can name no event.
MAX_EVENT_ID = 2**63 - 1


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
        append: Callable[[Sequence[NewEvent]], Awaitable[AppendResult]],
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


class FlywheelQueries:
    """Read side: queue, journeys, nudges and figures, as the apps and operators see them.

    The nudges' rules (cooldown, cap, wording, degraded mode, attribution) are the
    store's own (``NudgeBoard``, ``ReadModelStore``): none is applied here, so the API
    answers what an app reading the store directly gets.
    """

    def __init__(
        self,
        inbox: EventInbox,
        read_models: ReadModelStore,
        catalogue: Catalogue,
        clock: Clock,
        board: NudgeBoard,
        experiments: ExperimentBook | None = None,
        insight_board: InsightBoard | None = None,
    ) -> None:
        self._inbox = inbox
        self._read_models = read_models
        self._catalogue = catalogue
        self._clock = clock
        self._board = board
        self._experiments = experiments or ExperimentBook()
        self._insight_board = insight_board

    def get_queue_status(self) -> QueueStatus:
        return self._inbox.queue_status(self._clock.now())

    def get_journey(self, user_id: str) -> Journey:
        journey = self._read_models.get_journey(user_id)
        if journey is None:
            raise UserNotFoundError(f"no processed event for user {user_id!r}")
        return journey

    def list_active_nudges(
        self, user_id: str, app: str, language: str = DEFAULT_LANGUAGE
    ) -> list[ActiveNudge]:
        """The nudges to show now in ``app``, in ``language``: unknown apps and languages
        no wording has are refused, rather than answered with nothing or in French."""
        if app not in self._catalogue.app_sources:
            known = ", ".join(self._catalogue.app_sources)
            raise RequestInvalidError("app", f"unknown app {app!r}; known apps: {known}")
        self._check_language(language)
        return self._board.active_nudges(user_id, app, language)

    def list_insights(self, user_id: str, language: str = DEFAULT_LANGUAGE) -> list[UserInsight]:
        """The user's insights, newest first, in ``language`` (the store's own rule)."""
        self._check_language(language)
        if self._insight_board is None:
            return []
        return self._insight_board.user_insights(user_id, language)

    def _check_language(self, language: str) -> None:
        """Answering in another language labelled as the one asked would mislead the app."""
        rules = self._catalogue.rules_by_type
        languages = sorted({lang for rule in rules.values() for lang in rule.messages})
        if language not in languages:
            raise RequestInvalidError(
                "lang", f"unsupported language {language!r}; supported: {', '.join(languages)}"
            )

    def list_experiments(self, language: str = DEFAULT_LANGUAGE) -> list[ExperimentReport]:
        """Every experiment's figures: conversions are attributed ones only."""
        self._check_language(language)
        counts = self._read_models.experiment_counts()
        days = self._read_models.nudge_settings().attribution_days
        slots = slot_reports(self._catalogue.rules_by_type, counts)
        return experiment_reports(self._experiments, counts, days, language, slots)

    def list_nudge_choice(self) -> list[SlotReport]:
        """Every nudge type's slots under the daily cap and how it converts, by type."""
        counts = self._read_models.experiment_counts()
        return list(slot_reports(self._catalogue.rules_by_type, counts).values())

    def record_nudge_shown(self, nudge_id: str) -> datetime:
        """Records a display where the nudge is shown; when it was displayed last."""
        at = self._board.mark_shown(nudge_id)
        if at is None:
            raise NudgeNotFoundError(f"no nudge with id {nudge_id!r}")
        return at

    def get_ecosystem(self, days: int = 30) -> EcosystemFigures:
        if not 1 <= days <= 3650:
            raise RequestInvalidError("days", "must be a whole number of days from 1 to 3650")
        return self._read_models.ecosystem(self._clock.now() - timedelta(days=days), days)


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
