"""The registry of apps, their event types and their nudge rules.

The core never names an app: each app is a module of ``src.domain.apps`` exposing an
``APP`` (see ``AppModule``), and the catalogue is whatever modules are registered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from src.domain.errors import AppSourceUnknownError, CatalogueConflictError, EventTypeUnknownError
from src.domain.nudges import NudgeRule
from src.domain.user_journey import UserJourney


@dataclass(frozen=True)
class EventType:
    """A catalogue entry: the event an app publishes and the journey event it becomes."""

    name: str
    journey_event: type[UserJourney.ActivityRecorded]
    description: str = ""


@dataclass(frozen=True)
class AppModule:
    """What an app contributes: its name, its event types and its nudge rules."""

    app_source: str
    title: str
    event_types: tuple[EventType, ...]
    nudge_rules: tuple[NudgeRule, ...] = ()


class Catalogue:
    """The registered apps, looked up by event type, app source and nudge type."""

    def __init__(self, apps: Iterable[AppModule] = ()) -> None:
        self._apps: dict[str, AppModule] = {}
        self._event_types: dict[str, tuple[AppModule, EventType]] = {}
        self._rules: dict[str, NudgeRule] = {}
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
        self._apps[app.app_source] = app
        for entry in app.event_types:
            self._event_types[entry.name] = (app, entry)
        for rule in app.nudge_rules:
            self._rules[rule.nudge_type] = rule

    @property
    def app_sources(self) -> list[str]:
        return sorted(self._apps)

    @property
    def event_type_names(self) -> list[str]:
        return sorted(self._event_types)

    @property
    def nudge_rules(self) -> list[NudgeRule]:
        return list(self._rules.values())

    @property
    def rules_by_type(self) -> Mapping[str, NudgeRule]:
        return dict(self._rules)

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
