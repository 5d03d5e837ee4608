"""The registry of apps, their event types and their nudge rules.

The core never names an app: each app is a module of ``src.domain.apps`` exposing an
``APP`` (see ``AppModule``), and the catalogue is whatever modules are registered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from src.domain.errors import (
    AppSourceUnknownError,
    CatalogueConflictError,
    EventTypeUnknownError,
    PayloadInvalidError,
)
from src.domain.experiments import Experiment, ExperimentBook
from src.domain.nudges import CrossAppNudgeRule, NudgeRule
from src.domain.rules import INSIGHT_PREFIX, ActivityNudgeRule, RuleInvalidError
from src.domain.user_journey import UserJourney

KINDS = ("integer", "number", "text", "boolean", "text_list")


@dataclass(frozen=True)
class PayloadField:
    """A payload field an event type requires (or allows), checked at ingest.

    Declared by the app module, so a value a rule depends on (a stress level) is known
    to be there and of the right kind before the event is stored.
    """

    name: str
    kind: str = "integer"
    minimum: float | None = None
    maximum: float | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CatalogueConflictError(
                f"payload field {self.name!r}: kind must be one of {KINDS}"
            )

    def check(self, payload: Mapping[str, object]) -> None:
        """Raises ``PayloadInvalidError`` naming the field when it fails its declaration.

        An integer is a number without a fractional part (JSON tells no integer from a
        number: ``7.0`` is seven, as a store reading the JSON sees it). The messages do
        not quote the value, so that a store checking the same declaration answers in
        the same words (see ``messages``).
        """
        value = payload.get(self.name)
        if value is None:
            if self.required:
                raise PayloadInvalidError(self.field, self.messages["missing"])
            return
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        ok = {
            "integer": isinstance(number, int) or (number is not None and number.is_integer()),
            "number": number is not None,
            "text": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "text_list": isinstance(value, list) and all(isinstance(v, str) for v in value),
        }[self.kind]
        if not ok:
            raise PayloadInvalidError(self.field, self.messages["wrong_kind"])
        if number is not None and (
            (self.minimum is not None and number < self.minimum)
            or (self.maximum is not None and number > self.maximum)
        ):
            raise PayloadInvalidError(self.field, self.messages["out_of_range"])

    @property
    def field(self) -> str:
        return f"payload.{self.name}"

    @property
    def messages(self) -> Mapping[str, str]:
        """What each failure says, per case: the store's own check of the declaration
        reads these very words from the catalogue it is given."""
        expected = self._expected()
        return {
            "missing": f"is required ({expected})",
            "wrong_kind": f"is not {expected}",
            "out_of_range": f"is out of range ({expected})",
        }

    def _expected(self) -> str:
        article = "an" if self.kind == "integer" else "a"
        kind = {
            "text": "text",
            "boolean": "true or false",
            "text_list": "a list of texts",
        }.get(self.kind, f"{article} {self.kind}")
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} from {self.minimum:g} to {self.maximum:g}"
        if self.minimum is not None:
            return f"{kind} of at least {self.minimum:g}"
        if self.maximum is not None:
            return f"{kind} of at most {self.maximum:g}"
        return kind


@dataclass(frozen=True)
class EventType:
    """A catalogue entry: the event an app publishes and the journey event it becomes."""

    name: str
    journey_event: type[UserJourney.ActivityRecorded]
    description: str = ""
    payload_fields: tuple[PayloadField, ...] = ()

    def check_payload(self, payload: Mapping[str, object]) -> None:
        """Raises ``PayloadInvalidError`` naming the first field that fails its declaration."""
        for declared in self.payload_fields:
            declared.check(payload)


@dataclass(frozen=True)
class AppModule:
    """What an app contributes: its name, its event types, its nudge rules, and the
    experiments on its nudges' wordings (each rule's ``messages`` is its default wording,
    shown when no experiment runs on it)."""

    app_source: str
    title: str
    event_types: tuple[EventType, ...]
    nudge_rules: tuple[NudgeRule, ...] = ()
    experiments: tuple[Experiment, ...] = ()


class Catalogue:
    """The registered apps, looked up by event type, app source and nudge type."""

    def __init__(self, apps: Iterable[AppModule] = ()) -> None:
        self._apps: dict[str, AppModule] = {}
        self._event_types: dict[str, tuple[AppModule, EventType]] = {}
        self._rules: dict[str, NudgeRule] = {}
        self._marking_rules: dict[str, tuple[NudgeRule, ...]] = {}
        for app in apps:
            self.register(app)

    def register(self, app: AppModule) -> None:
        """Add an app; refuses a second claim on an app name, event type or nudge type."""
        if app.app_source in self._apps:
            raise CatalogueConflictError(f"app {app.app_source!r} is registered twice")
        for entry in app.event_types:
            if entry.name in self._event_types:
                owner = self._event_types[entry.name][0].app_source
                raise CatalogueConflictError(f"event type {entry.name!r} belongs to {owner!r}")
        for rule in app.nudge_rules:
            if rule.nudge_type in self._rules:
                raise CatalogueConflictError(f"nudge type {rule.nudge_type!r} is registered twice")
        own = {rule.nudge_type for rule in app.nudge_rules}
        for experiment in app.experiments:
            if experiment.nudge_type not in own:
                raise CatalogueConflictError(
                    f"app {app.app_source!r} runs an experiment on {experiment.nudge_type!r}, "
                    "which is not one of its nudge rules"
                )
        self._apps[app.app_source] = app
        for entry in app.event_types:
            self._event_types[entry.name] = (app, entry)
        for rule in app.nudge_rules:
            self._rules[rule.nudge_type] = rule
        self._marking_rules.clear()

    @property
    def app_sources(self) -> list[str]:
        return sorted(self._apps)

    @property
    def event_type_names(self) -> list[str]:
        return sorted(self._event_types)

    @property
    def apps(self) -> list[AppModule]:
        """The registered apps, by name."""
        return [self._apps[name] for name in sorted(self._apps)]

    @property
    def experiments(self) -> ExperimentBook:
        """The experiments the app modules declare: the book when no file overrides it."""
        return ExperimentBook(
            {e.nudge_type: e for app in self._apps.values() for e in app.experiments}
        )

    @property
    def nudge_rules(self) -> list[NudgeRule]:
        return list(self._rules.values())

    @property
    def rules_by_type(self) -> Mapping[str, NudgeRule]:
        return dict(self._rules)

    @property
    def window_days(self) -> int:
        """The longest window any rule reads: the per-day counters journeys keep."""
        return max((rule.window_days for rule in self._rules.values()), default=0)

    def marks_for(self, event_type: str, payload: Mapping[str, object]) -> list[str]:
        """The payload counters any rule keeps that this event meets.

        Runs for every event folded: only the rules that may mark an event of its type
        are asked (found once per event type), and most event types have none.
        """
        rules = self._marking_rules.get(event_type)
        if rules is None:
            rules = tuple(rule for rule in self._rules.values() if _may_mark(rule, event_type))
            self._marking_rules[event_type] = rules
        if not rules:
            return []
        return marks_for(rules, event_type, payload)

    def insight_marks_for(self, kind: str, data: Mapping[str, object]) -> list[str]:
        """The counters an insight adds to: its kind's, and any rule's conditions on it."""
        extra = (
            m
            for rule in self._rules.values()
            if isinstance(rule, ActivityNudgeRule)
            for m in rule.insight_marks(kind, data)
        )
        return list(dict.fromkeys([INSIGHT_PREFIX + kind, *extra]))

    def check_rule(self, rule: NudgeRule) -> None:
        """A rule naming only known apps and event types, else ``RuleInvalidError``."""
        for app in rule.apps:
            if app not in self._apps:
                raise RuleInvalidError(
                    "app", f"unknown app {app!r}; known apps: {', '.join(self.app_sources)}"
                )
        for event_type in rule.event_types:
            if event_type not in self._event_types:
                raise RuleInvalidError(
                    "event_types",
                    f"unknown event type {event_type!r}; known types: "
                    f"{', '.join(self.event_type_names)}",
                )

    def event_type(self, event_type: str, app_source: str) -> EventType:
        """The entry of ``event_type`` from ``app_source``; the error names the known ones."""
        if app_source not in self._apps:
            raise AppSourceUnknownError(
                "app_source",
                f"unknown app {app_source!r}; known apps: {', '.join(self.app_sources)}",
            )
        found = self._event_types.get(event_type)
        if found is None:
            raise EventTypeUnknownError(
                "event_type",
                f"unknown event type {event_type!r}; known types: "
                f"{', '.join(self.event_type_names)}",
            )
        owner, entry = found
        if owner.app_source != app_source:
            raise AppSourceUnknownError(
                "app_source",
                f"event type {event_type!r} is published by {owner.app_source!r}, "
                f"not {app_source!r}",
            )
        return entry


def _may_mark(rule: NudgeRule, event_type: str) -> bool:
    """Whether ``rule.marks`` may name a counter for an event of ``event_type``.

    Known for the rule classes of the core only (a subclass may mark otherwise): a
    cross-app rule never marks, an activity rule only by its payload conditions.
    """
    if type(rule) is CrossAppNudgeRule:
        return False
    if type(rule) is ActivityNudgeRule:
        return rule.may_mark(event_type)
    return True


def marks_for(
    rules: Iterable[NudgeRule], event_type: str, payload: Mapping[str, object]
) -> list[str]:
    return list(dict.fromkeys(m for rule in rules for m in rule.marks(event_type, payload)))
