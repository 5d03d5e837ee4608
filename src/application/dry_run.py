"""What a nudge rule would have done over the stored history, written nowhere.

The replay folds each user's processed events, in order, into a throw-away journey with
the very code the workers run (``UserJourney.record`` and the rule's ``is_due``), as if
the rule had been live from the start of the period. A user is "targeted" at the first
event after which the rule is due, and "converted after" when a later event is one the
rule's nudge converts on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from src.application.errors import RequestInvalidError
from src.application.ports.clock import Clock
from src.application.ports.event_history import EventHistory, HistoryEvent
from src.domain.catalogue import Catalogue
from src.domain.errors import FlywheelError
from src.domain.nudges import NudgeRule
from src.domain.user_journey import UserJourney

DEFAULT_DAYS = 90
IDLE_RATIO = 1.0
"""After each page, the replay rests as long as it worked on it (``IDLE_RATIO`` times):
at most half a core, so a worker on the same machine (or in the same process, for the
HTTP endpoint) keeps most of its pace while a long replay runs."""
MAX_DAYS = 3650
ALREADY_TARGETED_CHUNK = 500


class RuleNotFoundError(FlywheelError):
    """No rule has this nudge type; the message names the known ones."""


@dataclass
class WeekFigures:
    """Users targeted in the week (Monday, UTC) of their first due event."""

    week_start: date
    would_target: int = 0
    already_targeted: int = 0
    converted_after: int = 0


@dataclass
class DryRunReport:
    nudge_type: str
    days: int
    since: datetime
    would_target: int = 0
    already_targeted: int = 0
    converted_after: int = 0
    users_scanned: int = 0
    events_scanned: int = 0
    weeks: list[WeekFigures] = field(default_factory=list)
    history_days: int | None = None
    """How many days of processed events the inbox keeps (``EVENT_RETENTION_DAYS``): a
    replay over more days than that sees only the last ``history_days`` of them."""


@dataclass
class _Target:
    user_id: str
    at: datetime
    converted: bool = False


class RuleDryRun:
    """Replays the stored history for one rule: a deployed one, or one given as data."""

    def __init__(
        self,
        catalogue: Catalogue,
        history: EventHistory,
        clock: Clock,
        idle_ratio: float = IDLE_RATIO,
        rest: Callable[[float], None] = time.sleep,
        history_days: int | None = None,
    ) -> None:
        """``history_days``: the inbox's retention window, reported with each replay."""
        self._history_days = history_days
        self._catalogue = catalogue
        self._history = history
        self._clock = clock
        self._idle_ratio = idle_ratio
        self._rest = rest

    def rule(self, nudge_type: str) -> NudgeRule:
        rule = self._catalogue.rules_by_type.get(nudge_type)
        if rule is None:
            known = ", ".join(sorted(self._catalogue.rules_by_type))
            raise RuleNotFoundError(f"unknown nudge type {nudge_type!r}; known: {known}")
        return rule

    def dry_run(
        self,
        nudge_type: str,
        days: int = DEFAULT_DAYS,
        rule: NudgeRule | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> DryRunReport:
        """``progress(events, users)`` is called after each batch read."""
        if isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
            raise RequestInvalidError(
                "days", f"must be a whole number of days from 1 to {MAX_DAYS}"
            )
        if rule is None:
            rule = self.rule(nudge_type)
        since = self._clock.now() - timedelta(days=days)
        report = DryRunReport(
            nudge_type=nudge_type, days=days, since=since, history_days=self._history_days
        )
        targets: list[_Target] = []
        replay = _Replay(rule)
        busy_since = time.perf_counter()
        for batch in self._history.processed_since(since, rule.event_types, rule.apps):
            for event in batch:
                target = replay.add(event)
                if target is not None:
                    targets.append(target)
            report.events_scanned += len(batch)
            report.users_scanned = replay.users
            if progress is not None:
                progress(report.events_scanned, report.users_scanned)
            if self._idle_ratio > 0:
                self._rest((time.perf_counter() - busy_since) * self._idle_ratio)
            busy_since = time.perf_counter()
        already = self._already_targeted(rule.nudge_type, [t.user_id for t in targets])
        weeks: dict[date, WeekFigures] = {}
        for target in targets:
            day = target.at.date()
            start = day - timedelta(days=day.weekday())
            week = weeks.setdefault(start, WeekFigures(start))
            week.would_target += 1
            week.already_targeted += target.user_id in already
            week.converted_after += target.converted
        report.would_target = len(targets)
        report.already_targeted = sum(t.user_id in already for t in targets)
        report.converted_after = sum(t.converted for t in targets)
        report.weeks = [weeks[start] for start in sorted(weeks)]
        return report

    def _already_targeted(self, nudge_type: str, user_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(user_ids), ALREADY_TARGETED_CHUNK):
            chunk = user_ids[start : start + ALREADY_TARGETED_CHUNK]
            found |= self._history.users_with_nudge(nudge_type, chunk)
        return found


class _Replay:
    """One user at a time: the history comes ordered by user."""

    def __init__(self, rule: NudgeRule) -> None:
        self._rule = rule
        self._journey = UserJourney(user_id="")
        self._target: _Target | None = None
        self.users = 0

    def add(self, event: HistoryEvent) -> _Target | None:
        """The user's target when this event makes the rule due for the first time."""
        if event.user_id != self._journey.user_id or not self.users:
            self._journey = UserJourney(user_id=event.user_id)
            self._target = None
            self.users += 1
        journey = self._journey
        rule = self._rule
        if self._target is not None:
            if not self._target.converted and _converts(rule, event):
                self._target.converted = True
            return None
        journey.record(
            UserJourney.ActivityRecorded,
            event_hash="",  # each stored event comes once; nothing reads the hash back
            event_type=event.event_type,
            app_source=event.app_source,
            occurred_at=event.timestamp,
            marks=rule.marks(event.event_type, event.payload),
            keep_days=rule.window_days,
        )
        # The journey's own events are not kept: the replay only needs its state.
        journey.collect_events()
        if rule.is_due(journey, event.timestamp):
            self._target = _Target(event.user_id, event.timestamp)
            return self._target
        return None


def _converts(rule: NudgeRule, event: HistoryEvent) -> bool:
    if rule.converts_on:
        return event.event_type in rule.converts_on
    return event.app_source == rule.target_app
