"""The read side the apps and operators call: queue, journeys, nudges, insights, figures."""

from __future__ import annotations

from datetime import datetime, timedelta

from src.application.errors import NudgeNotFoundError, RequestInvalidError, UserNotFoundError
from src.application.experiments import ExperimentReport, experiment_reports
from src.application.insight_policy import InsightBoard, UserInsight
from src.application.nudge_choice import SlotReport, slot_reports
from src.application.ports.clock import Clock
from src.application.ports.inbox import EventInbox, QueueStatus
from src.application.ports.nudges import ActiveNudge, NudgeBoard
from src.application.ports.read_models import EcosystemFigures, Journey, ReadModelStore
from src.domain.catalogue import Catalogue
from src.domain.experiments import ExperimentBook
from src.domain.nudges import DEFAULT_LANGUAGE


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
