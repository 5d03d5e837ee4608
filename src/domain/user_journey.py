"""The UserJourney aggregate: everything one user did across the Phoenix apps.

Invariants it protects:

* a source event (identified by its SHA-256 hash) is folded in at most once, so a replay,
  a crash between save and acknowledgement, or a force-reprocess never double-counts;
* a nudge type is detected at most once per user, and converts at most once, when the
  user acts in the app the nudge suggests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, TypedDict
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

if TYPE_CHECKING:
    from src.domain.nudges import NudgeRule

JOURNEY_NAMESPACE = uuid5(NAMESPACE_URL, "https://phoenix.app/flywheel/user-journey")


class NudgeState(TypedDict):
    """What the journey remembers of one nudge; a plain dict so snapshots stay JSON."""

    nudge_id: str
    target_app: str
    status: str


@lru_cache(maxsize=65_536)
def journey_id(user_id: str) -> UUID:
    """A user's journey id is derived from the user id, so any worker finds the same one.

    Cached: a batch asks for each of its users' ids several times, and SHA-1 is not free.
    """
    return uuid5(JOURNEY_NAMESPACE, user_id)


def nudge_id(user_id: str, nudge_type: str) -> str:
    """Deterministic, so that a replayed detection names the same nudge."""
    return str(uuid5(journey_id(user_id), nudge_type))


class UserJourney(Aggregate):
    """A user's activity across apps, and the nudges it gave rise to."""

    @staticmethod
    def create_id(user_id: str) -> UUID:
        return journey_id(user_id)

    @event("Started")
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.applied_hashes: dict[str, bool] = {}
        self.activity_by_app: dict[str, int] = {}
        self.activity_by_type: dict[str, int] = {}
        self.nudges: dict[str, NudgeState] = {}

    class ActivityRecorded(Aggregate.Event):
        """Base of every app's activity event; each app module declares past-tense subclasses."""

        user_id: str
        event_hash: str
        event_type: str
        app_source: str
        occurred_at: datetime

        def apply(self, aggregate: Aggregate) -> None:
            if not isinstance(aggregate, UserJourney):  # pragma: no cover - wiring error
                raise TypeError(type(aggregate).__name__)
            aggregate.applied_hashes[self.event_hash] = True
            by_app = aggregate.activity_by_app
            by_app[self.app_source] = by_app.get(self.app_source, 0) + 1
            by_type = aggregate.activity_by_type
            by_type[self.event_type] = by_type.get(self.event_type, 0) + 1

    class NudgeDetected(Aggregate.Event):
        """A rule found the user should be nudged toward ``target_app`` inside ``shown_in``.

        ``variant`` is the message variant chosen for this user at detection (see
        ``src.domain.experiments``): recorded here, a replay shows the same wording.
        """

        user_id: str
        nudge_id: str
        nudge_type: str
        shown_in: str
        target_app: str
        detected_at: datetime
        variant: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Stored before experiments existed: no variant was chosen."""
            state["variant"] = ""

        def apply(self, aggregate: Aggregate) -> None:
            if not isinstance(aggregate, UserJourney):  # pragma: no cover - wiring error
                raise TypeError(type(aggregate).__name__)
            aggregate.nudges[self.nudge_type] = NudgeState(
                nudge_id=self.nudge_id, target_app=self.target_app, status="active"
            )

    class NudgeConverted(Aggregate.Event):
        """The user did what the nudge suggested (reached its target app).

        A fact about the user, not a verdict on the nudge: whether it counts as the
        nudge's conversion or as organic depends on when the nudge was first shown,
        which the read models know (see ``src.domain.experiments.attribute``).
        """

        user_id: str
        nudge_id: str
        nudge_type: str
        converted_at: datetime
        by_event_hash: str

        def apply(self, aggregate: Aggregate) -> None:
            if not isinstance(aggregate, UserJourney):  # pragma: no cover - wiring error
                raise TypeError(type(aggregate).__name__)
            aggregate.nudges[self.nudge_type]["status"] = "converted"

    def has_applied(self, event_hash: str) -> bool:
        return event_hash in self.applied_hashes

    def has_activity_in(self, app_source: str) -> bool:
        return self.activity_by_app.get(app_source, 0) > 0

    def record(
        self,
        activity: type[ActivityRecorded],
        *,
        event_hash: str,
        event_type: str,
        app_source: str,
        occurred_at: datetime,
    ) -> bool:
        """Fold one source event in; returns False when its hash was already applied.

        Recording activity in the app an active nudge suggests converts that nudge.
        """
        if self.has_applied(event_hash):
            return False
        self.trigger_event(
            activity,
            user_id=self.user_id,
            event_hash=event_hash,
            event_type=event_type,
            app_source=app_source,
            occurred_at=occurred_at,
        )
        for nudge_type, state in list(self.nudges.items()):
            if state["status"] == "active" and state["target_app"] == app_source:
                self.trigger_event(
                    self.NudgeConverted,
                    user_id=self.user_id,
                    nudge_id=state["nudge_id"],
                    nudge_type=nudge_type,
                    converted_at=occurred_at,
                    by_event_hash=event_hash,
                )
        return True

    def detect_nudges(
        self,
        rules: Iterable[NudgeRule],
        at: datetime,
        choose_variant: Callable[[str, str], str] | None = None,
    ) -> list[str]:
        """Trigger ``NudgeDetected`` for each due rule not detected before; returns their types.

        ``choose_variant(nudge_type, user_id)`` picks the message variant, once, here.
        """
        detected: list[str] = []
        for rule in rules:
            if rule.nudge_type in self.nudges or not rule.is_due(self):
                continue
            self.trigger_event(
                self.NudgeDetected,
                user_id=self.user_id,
                nudge_id=nudge_id(self.user_id, rule.nudge_type),
                nudge_type=rule.nudge_type,
                shown_in=rule.shown_in,
                target_app=rule.target_app,
                detected_at=at,
                variant=choose_variant(rule.nudge_type, self.user_id) if choose_variant else "",
            )
            detected.append(rule.nudge_type)
        return detected
