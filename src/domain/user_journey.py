"""The UserJourney aggregate: everything one user did across the Phoenix apps.

Invariants it protects:

* a nudge type is detected at most once per user, and converts at most once, when the
  user does what the nudge suggests (an event of its ``converts_on`` types, or any event
  of its target app);
* what rules read stays bounded: per-day counters (per event type and per payload
  condition, see ``src.domain.rules``) are pruned to the longest window the rules asked
  for when the event was recorded, and first/last times are one entry per counter.
  Counters and times are plain text and integers, so snapshots stay JSON.

What it does not remember: which source events it applied. That a source event (named
by its SHA-256 hash) is recorded at most once, whatever replays, crashes between save
and acknowledgement or force-reprocessing happen, is the application's rule, kept by the
store: each save inserts the (user, event hash) pairs it applies into a table where the
pair is unique, in the commit that stores the journey's events, and the application
skips the pairs already there (``src.application.journeys``). Kept here, the hashes
would make a journey, and its snapshots, grow with the user's whole history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, NotRequired, TypedDict
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from src.domain.nudge_choice import NOT_RANKED

if TYPE_CHECKING:
    from src.domain.nudges import NudgeRule

JOURNEY_NAMESPACE = uuid5(NAMESPACE_URL, "https://phoenix.app/flywheel/user-journey")


class NudgeState(TypedDict):
    """What the journey remembers of one nudge; a plain dict so snapshots stay JSON."""

    nudge_id: str
    target_app: str
    status: str
    converts_on: NotRequired[list[str]]
    """Absent in journeys stored before conversion could name event types: any event of
    ``target_app`` converts."""


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@lru_cache(maxsize=1024)
def _instant(at: datetime, fold: int) -> tuple[str, str]:
    """``at`` in UTC as ISO text, and its day (ISO).

    Cached: the counters and every rule's window ask for the event just folded, and
    the conversion costs more than the look-up. ``fold`` (``at.fold``) is part of the
    key: two times of one zone that differ only by it compare equal, yet are different
    instants.
    """
    when = _utc(at).isoformat()
    return when, when[:10]


@lru_cache(maxsize=1024)
def _window_start(day: str, days: int) -> str:
    """The first day (ISO) of a window of ``days`` whole days ending on ``day`` (ISO).

    Cached: the events of a batch mostly share their day.
    """
    last = date.fromisoformat(day)
    # An event in the first days of year 1 has a window that starts before the calendar.
    if last.toordinal() < days:
        return date.min.isoformat()
    return (last - timedelta(days=days - 1)).isoformat()


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

    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        """A snapshot taken before windowed rules: no counters yet (they fill from here)."""
        state.update(daily={}, daily_first={}, first_at={}, last_at={}, mark_totals={})

    @staticmethod
    def upcast_v2_v3(state: dict[str, object]) -> None:
        """A snapshot taken when journeys kept the hashes they applied (the store does now)."""
        state.pop("applied_hashes", None)

    @staticmethod
    def create_id(user_id: str) -> UUID:
        return journey_id(user_id)

    @event("Started")
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.activity_by_app: dict[str, int] = {}
        self.activity_by_type: dict[str, int] = {}
        self.nudges: dict[str, NudgeState] = {}
        # counter (event type, or event type + payload condition) -> day -> count
        self.daily: dict[str, dict[str, int]] = {}
        # counter -> day -> first time (ISO, UTC) it was seen that day
        self.daily_first: dict[str, dict[str, str]] = {}
        # counter -> first / last time (ISO, UTC) it was ever seen
        self.first_at: dict[str, str] = {}
        self.last_at: dict[str, str] = {}
        # payload counter -> events ever counted (event types have ``activity_by_type``)
        self.mark_totals: dict[str, int] = {}

    class ActivityRecorded(Aggregate.Event):
        """Base of every app's activity event; each app module declares past-tense subclasses.

        ``marks`` are the payload counters the event met (computed from the payload when
        recorded, so the journey never keeps payloads); ``keep_days`` how many days of
        per-day counters the rules needed then.
        """

        user_id: str
        event_hash: str
        event_type: str
        app_source: str
        occurred_at: datetime
        marks: list[str]
        keep_days: int

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Stored before windowed rules: no payload counter, no per-day counters."""
            state.update(marks=[], keep_days=0)

        def apply(self, aggregate: Aggregate) -> None:
            if not isinstance(aggregate, UserJourney):  # pragma: no cover - wiring error
                raise TypeError(type(aggregate).__name__)
            by_app = aggregate.activity_by_app
            by_app[self.app_source] = by_app.get(self.app_source, 0) + 1
            by_type = aggregate.activity_by_type
            by_type[self.event_type] = by_type.get(self.event_type, 0) + 1
            for mark in self.marks:
                aggregate.mark_totals[mark] = aggregate.mark_totals.get(mark, 0) + 1
            aggregate.count_in([self.event_type, *self.marks], self.occurred_at, self.keep_days)

    class NudgeDetected(Aggregate.Event):
        """A rule found the user should be nudged toward ``target_app`` inside ``shown_in``.

        ``variant`` is the message variant chosen for this user at detection (see
        ``src.domain.experiments``): recorded here, a replay shows the same wording.
        ``rank`` is the nudge's place when nudges compete for the daily cap (see
        ``src.domain.nudge_choice``), drawn once, here, for the same reason.
        """

        user_id: str
        nudge_id: str
        nudge_type: str
        shown_in: str
        target_app: str
        detected_at: datetime
        variant: str
        converts_on: list[str]
        rank: float

        class_version = 4

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """Stored before experiments existed: no variant was chosen."""
            state["variant"] = ""

        @staticmethod
        def upcast_v2_v3(state: dict[str, object]) -> None:
            """Stored when any event of the target app converted a nudge."""
            state["converts_on"] = []

        @staticmethod
        def upcast_v3_v4(state: dict[str, object]) -> None:
            """Stored before nudges were ranked: it comes after the ranked ones."""
            state["rank"] = NOT_RANKED

        def apply(self, aggregate: Aggregate) -> None:
            if not isinstance(aggregate, UserJourney):  # pragma: no cover - wiring error
                raise TypeError(type(aggregate).__name__)
            state = NudgeState(nudge_id=self.nudge_id, target_app=self.target_app, status="active")
            if self.converts_on:
                state["converts_on"] = list(self.converts_on)
            aggregate.nudges[self.nudge_type] = state

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

    class InsightRaised(Aggregate.Event):
        """An analyser learnt something about the user from a source event (see
        ``src.domain.insights``): the read model shows it, and rules may fire on it.

        ``marks`` are the insight counters it meets (``insight:<kind>``, and the rules'
        conditions on its data), computed when raised, so the journey keeps no insight
        data of its own beyond this event.
        """

        user_id: str
        insight_id: str
        kind: str
        source_hashes: list[str]
        data: dict[str, object]
        messages: dict[str, str]
        created_at: datetime
        marks: list[str]

        def apply(self, aggregate: Aggregate) -> None:
            if not isinstance(aggregate, UserJourney):  # pragma: no cover - wiring error
                raise TypeError(type(aggregate).__name__)
            for mark in self.marks:
                aggregate.mark_totals[mark] = aggregate.mark_totals.get(mark, 0) + 1
            aggregate.count_in(self.marks, self.created_at, 0)

    def raise_insight(
        self,
        *,
        insight_id: str,
        kind: str,
        source_hashes: Iterable[str],
        data: dict[str, object],
        messages: dict[str, str],
        created_at: datetime,
        marks: Iterable[str],
    ) -> None:
        """Record an insight once its source event is folded in (the caller folds each
        source event, and so each insight it brought, once)."""
        self.trigger_event(
            self.InsightRaised,
            user_id=self.user_id,
            insight_id=insight_id,
            kind=kind,
            source_hashes=list(source_hashes),
            data=data,
            messages=messages,
            created_at=created_at,
            marks=list(marks),
        )

    def has_activity_in(self, app_source: str) -> bool:
        return self.activity_by_app.get(app_source, 0) > 0

    def count_in(self, counters: Iterable[str], at: datetime, keep_days: int) -> None:
        """Add one event at ``at`` to each counter, then drop days out of ``keep_days``."""
        when, day = _instant(at, at.fold)
        oldest = _window_start(day, keep_days) if keep_days > 0 else None
        first_at, last_at, daily, daily_first = (
            self.first_at,
            self.last_at,
            self.daily,
            self.daily_first,
        )
        for counter in counters:
            first = first_at.get(counter)
            if first is None or when < first:
                first_at[counter] = when
            if when > last_at.get(counter, ""):
                last_at[counter] = when
            if oldest is None or day < oldest:
                continue
            days = daily.get(counter)
            if days is None:
                days = daily[counter] = {}
            days[day] = days.get(day, 0) + 1
            firsts = daily_first.get(counter)
            if firsts is None:
                firsts = daily_first[counter] = {}
            first = firsts.get(day)
            if first is None or when < first:
                firsts[day] = when
        if oldest is None:
            return
        # Only counters holding a day out of the window are touched (most hold none).
        stale = [c for c, days in daily.items() if not days or min(days) < oldest]
        for counter in stale:
            days = daily[counter]
            for old in [d for d in days if d < oldest]:
                del days[old]
                daily_first.get(counter, {}).pop(old, None)
            if not days:
                del daily[counter]
                daily_first.pop(counter, None)

    def count(self, counters: Iterable[str], within_days: int | None, at: datetime) -> int:
        """Events counted by ``counters``: ever, or within ``within_days`` days up to ``at``."""
        if within_days is None:
            return sum(
                self.activity_by_type.get(c, 0) or self.mark_totals.get(c, 0) for c in counters
            )
        end = _instant(at, at.fold)[1]
        start = _window_start(end, within_days)
        daily = self.daily
        total = 0
        for counter in counters:
            days = daily.get(counter)
            if days:
                for day, n in days.items():
                    if start <= day <= end:
                        total += n
        return total

    def first_counted(
        self, counters: Iterable[str], within_days: int | None, at: datetime
    ) -> datetime | None:
        """When the first event ``count`` counts happened (None: none)."""
        if within_days is None:
            found = [self.first_at[c] for c in counters if c in self.first_at]
        else:
            end = _instant(at, at.fold)[1]
            start = _window_start(end, within_days)
            found = [
                first
                for c in counters
                for d, first in self.daily_first.get(c, {}).items()
                if start <= d <= end
            ]
        return datetime.fromisoformat(min(found)) if found else None

    def last_seen(self, counters: Iterable[str]) -> datetime | None:
        """The last time any of ``counters`` was seen (None: never)."""
        found = [self.last_at[c] for c in counters if c in self.last_at]
        return datetime.fromisoformat(max(found)) if found else None

    def record(
        self,
        activity: type[ActivityRecorded],
        *,
        event_hash: str,
        event_type: str,
        app_source: str,
        occurred_at: datetime,
        marks: Iterable[str] = (),
        keep_days: int = 0,
    ) -> None:
        """Fold one source event in: the caller folds each source event once (see above).

        ``marks`` and ``keep_days`` come from the rules (``Catalogue.marks_for`` and
        ``Catalogue.window_days``). An event that does what an active nudge suggests
        converts that nudge.
        """
        self.trigger_event(
            activity,
            user_id=self.user_id,
            event_hash=event_hash,
            event_type=event_type,
            app_source=app_source,
            occurred_at=occurred_at,
            marks=list(marks),
            keep_days=keep_days,
        )
        for nudge_type, state in list(self.nudges.items()):
            converts_on = state.get("converts_on")
            if state["status"] == "active" and (
                event_type in converts_on if converts_on else state["target_app"] == app_source
            ):
                self.trigger_event(
                    self.NudgeConverted,
                    user_id=self.user_id,
                    nudge_id=state["nudge_id"],
                    nudge_type=nudge_type,
                    converted_at=occurred_at,
                    by_event_hash=event_hash,
                )

    def detect_nudges(
        self,
        rules: Iterable[NudgeRule],
        at: datetime,
        choose_variant: Callable[[str, str], str] | None = None,
        choose_rank: Callable[[str, str, datetime], float] | None = None,
    ) -> list[str]:
        """Trigger ``NudgeDetected`` for each due rule not detected before; returns their types.

        ``choose_variant(nudge_type, user_id)`` picks the message variant, and
        ``choose_rank(nudge_type, user_id, at)`` the rank under the daily cap, once, here.
        """
        detected: list[str] = []
        for rule in rules:
            if rule.nudge_type in self.nudges or not rule.is_due(self, at):
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
                converts_on=list(rule.converts_on),
                rank=choose_rank(rule.nudge_type, self.user_id, at) if choose_rank else NOT_RANKED,
            )
            detected.append(rule.nudge_type)
        return detected
