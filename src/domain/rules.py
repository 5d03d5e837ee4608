"""Nudge rules declared as data: counts within a time window, payload values, "and not".

A rule reads only what the journey keeps (see ``UserJourney``): per-day counts per event
type and per payload condition, kept for the longest window any rule asks for, and the
first and last time each was seen. So a rule over "the last 7 days" costs the journey a
week of counters, never its whole history.

Windows are whole UTC days counted back from the event being folded, its day included:
"within 7 days" of an event on a Sunday covers Monday to Sunday. Rules are evaluated as
each event is folded, so a window "expires" only in the sense that later events no longer
see the old ones.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from src.domain.errors import FlywheelError

if TYPE_CHECKING:
    from src.domain.user_journey import UserJourney

Scalar = int | float | str | bool

OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


class RuleInvalidError(FlywheelError):
    """A rule declaration that cannot run; ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Where:
    """A condition on one payload field: ``stress_level >= 7``.

    A payload without the field, or with a value of another kind (text against a
    number), does not meet the condition: it is never an error at fold time.
    """

    field: str
    op: str
    value: Scalar

    def __post_init__(self) -> None:
        if not self.field:
            raise RuleInvalidError("where.field", "a payload field name is required")
        if self.op not in OPERATORS:
            raise RuleInvalidError("where.op", f"must be one of {', '.join(OPERATORS)}")

    @cached_property
    def key(self) -> str:
        """Part of a counter's name; cached, as rules read it after every event (JSON)."""
        return f"{self.field}{self.op}{json.dumps(self.value)}"

    def holds(self, payload: Mapping[str, object]) -> bool:
        found = payload.get(self.field)
        if found is None:
            return False
        if _is_number(self.value) != _is_number(found) or isinstance(found, bool) != isinstance(
            self.value, bool
        ):
            return False
        try:
            return bool(OPERATORS[self.op](found, self.value))
        except TypeError:
            return False


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Count:
    """At least ``at_least`` events of ``event_types`` (meeting every ``where``), either
    ever (``within_days`` None) or within the last ``within_days`` days."""

    event_types: tuple[str, ...]
    at_least: int = 1
    within_days: int | None = None
    where: tuple[Where, ...] = ()

    def __post_init__(self) -> None:
        if not self.event_types:
            raise RuleInvalidError("event_types", "name at least one event type")
        if isinstance(self.at_least, bool) or not isinstance(self.at_least, int):
            raise RuleInvalidError("at_least", "must be a whole number")
        if self.at_least < 1:
            raise RuleInvalidError("at_least", "must be 1 or more")
        if self.within_days is not None and (
            isinstance(self.within_days, bool)
            or not isinstance(self.within_days, int)
            or not 1 <= self.within_days <= 3650
        ):
            raise RuleInvalidError("within_days", "must be a whole number of days from 1 to 3650")

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """The journey counters this condition reads: one per event type (cached: the
        rules read them after every event)."""
        if not self.where:
            return self.event_types
        suffix = "[" + "&".join(w.key for w in self.where) + "]"
        return tuple(event_type + suffix for event_type in self.event_types)

    def marks(self, event_type: str, payload: Mapping[str, object]) -> tuple[str, ...]:
        """The payload counters an event of ``event_type`` with ``payload`` adds to."""
        if not self.where or event_type not in self.event_types:
            return ()
        if all(w.holds(payload) for w in self.where):
            return (self.keys[self.event_types.index(event_type)],)
        return ()

    def holds(self, journey: UserJourney, at: datetime) -> bool:
        return journey.count(self.keys, self.within_days, at) >= self.at_least

    def first_counted(self, journey: UserJourney, at: datetime) -> datetime | None:
        return journey.first_counted(self.keys, self.within_days, at)


@dataclass(frozen=True)
class ActiveIn:
    """The user did anything in ``app_source``, ever."""

    app_source: str

    def marks(self, event_type: str, payload: Mapping[str, object]) -> tuple[str, ...]:
        return ()

    def holds(self, journey: UserJourney, at: datetime) -> bool:
        return journey.has_activity_in(self.app_source)


INSIGHT_PREFIX = "insight:"
"""Journey counters of insights are named ``insight:<kind>``: never an event type's name."""


@dataclass(frozen=True)
class HasInsight:
    """At least ``at_least`` insights of ``kind`` were raised for the user, ever, each
    meeting every ``where`` on the insight's data (``missing_count >= 1``)."""

    kind: str
    at_least: int = 1
    where: tuple[Where, ...] = ()

    def __post_init__(self) -> None:
        if not self.kind:
            raise RuleInvalidError("insight", "an insight kind is required")
        if isinstance(self.at_least, bool) or not isinstance(self.at_least, int):
            raise RuleInvalidError("at_least", "must be a whole number")
        if self.at_least < 1:
            raise RuleInvalidError("at_least", "must be 1 or more")

    @cached_property
    def key(self) -> str:
        base = INSIGHT_PREFIX + self.kind
        if not self.where:
            return base
        return base + "[" + "&".join(w.key for w in self.where) + "]"

    def marks(self, event_type: str, payload: Mapping[str, object]) -> tuple[str, ...]:
        return ()

    def insight_marks(self, kind: str, data: Mapping[str, object]) -> tuple[str, ...]:
        """The counter an insight of ``kind`` with ``data`` adds to, beyond its kind's."""
        if kind != self.kind or not self.where:
            return ()
        return (self.key,) if all(w.holds(data) for w in self.where) else ()

    def holds(self, journey: UserJourney, at: datetime) -> bool:
        return journey.count((self.key,), None, at) >= self.at_least


Condition = Count | ActiveIn | HasInsight


@dataclass(frozen=True)
class ActivityNudgeRule:
    """Due when every ``when`` condition holds, no ``unless`` condition holds, and no event
    of ``unless_since`` happened since the first event the first ``Count`` of ``when``
    counted ("no meditation since the first of these stressful entries").

    The nudge converts on an event of ``converts_on``, or on any event of ``target_app``
    when ``converts_on`` is empty.
    """

    nudge_type: str
    shown_in: str
    target_app: str
    when: tuple[Condition, ...]
    unless: tuple[Condition, ...] = ()
    unless_since: tuple[str, ...] = ()
    converts_on: tuple[str, ...] = ()
    messages: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.nudge_type:
            raise RuleInvalidError("nudge_type", "a nudge type is required")
        if not self.when:
            raise RuleInvalidError("when", "a rule needs at least one condition")
        if self.unless_since and self._anchor is None:
            raise RuleInvalidError(
                "unless_since", "needs a count condition in `when` to say since when"
            )

    @cached_property
    def _anchor(self) -> Count | None:
        return next((c for c in self.when if isinstance(c, Count)), None)

    @cached_property
    def conditions(self) -> tuple[Condition, ...]:
        return self.when + self.unless

    @cached_property
    def _marking(self) -> Mapping[str, tuple[Count, ...]]:
        """The payload conditions that may mark an event, by its type: ``marks`` runs for
        every event folded, and most event types meet none of them."""
        found: dict[str, list[Count]] = {}
        for condition in self.conditions:
            if isinstance(condition, Count) and condition.where:
                for event_type in dict.fromkeys(condition.event_types):
                    found.setdefault(event_type, []).append(condition)
        return {event_type: tuple(counts) for event_type, counts in found.items()}

    @property
    def window_days(self) -> int:
        """The longest window the rule looks back over (0: none)."""
        return max((c.within_days or 0 for c in self.conditions if isinstance(c, Count)), default=0)

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type the rule names, so the catalogue can check they exist."""
        named = [t for c in self.conditions if isinstance(c, Count) for t in c.event_types]
        return tuple(dict.fromkeys([*named, *self.unless_since, *self.converts_on]))

    @property
    def apps(self) -> tuple[str, ...]:
        named = [c.app_source for c in self.conditions if isinstance(c, ActiveIn)]
        return tuple(dict.fromkeys([self.shown_in, self.target_app, *named]))

    def may_mark(self, event_type: str) -> bool:
        """Whether ``marks`` may name a counter for an event of ``event_type``."""
        return event_type in self._marking

    def marks(self, event_type: str, payload: Mapping[str, object]) -> tuple[str, ...]:
        counts = self._marking.get(event_type)
        if not counts:
            return ()
        return tuple(m for c in counts for m in c.marks(event_type, payload))

    def insight_marks(self, kind: str, data: Mapping[str, object]) -> tuple[str, ...]:
        """The counters beyond ``insight:<kind>`` that an insight meets for this rule."""
        return tuple(
            m
            for c in self.conditions
            if isinstance(c, HasInsight)
            for m in c.insight_marks(kind, data)
        )

    def is_due(self, journey: UserJourney, at: datetime) -> bool:
        for condition in self.when:
            if not condition.holds(journey, at):
                return False
        for condition in self.unless:
            if condition.holds(journey, at):
                return False
        anchor = self._anchor
        if self.unless_since and anchor is not None:
            first = anchor.first_counted(journey, at)
            last = journey.last_seen(self.unless_since)
            if first is not None and last is not None and last >= first:
                return False
        return True

    def converts(self, event_type: str, app_source: str) -> bool:
        if self.converts_on:
            return event_type in self.converts_on
        return app_source == self.target_app
