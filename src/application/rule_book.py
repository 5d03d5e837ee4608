"""The catalogue, the experiments and the rules' settings as the store keeps them.

Written by ``migrate`` and at every start of the worker or the server, so that what the
store decides on its own (the insert check of new events, the nudges to show, the
attribution of conversions) follows the app modules and the settings of the code that
runs. The SQL file carries the shipped modules' rows too, for a store set up by pasting
it (see ``src.adapters.sql.catalogue``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from src.application.nudge_policy import (
    CROSS_APP,
    JOURNEY,
    NudgeRules,
    NudgeTypeEntry,
    VariantEntry,
)
from src.application.ports.nudges import NudgeSettings
from src.domain.catalogue import Catalogue, PayloadField
from src.domain.experiments import ExperimentBook
from src.domain.nudges import CrossAppNudgeRule, NudgeRule


@dataclass(frozen=True)
class AppEntry:
    app_source: str
    title: str


@dataclass(frozen=True)
class EventTypeEntry:
    event_type: str
    app_source: str
    description: str
    payload_fields: tuple[Mapping[str, object], ...]
    """Each declared field with its kind, bounds, and what each failure says."""


@dataclass(frozen=True)
class RuleBook:
    apps: tuple[AppEntry, ...]
    event_types: tuple[EventTypeEntry, ...]
    nudge_types: tuple[NudgeTypeEntry, ...]
    variants: tuple[VariantEntry, ...]
    settings: NudgeSettings

    @property
    def nudge_rules(self) -> NudgeRules:
        """What the nudge rules read of the book."""
        return NudgeRules(
            self.settings, {entry.nudge_type: entry for entry in self.nudge_types}, self.variants
        )


def rule_book(catalogue: Catalogue, book: ExperimentBook, settings: NudgeSettings) -> RuleBook:
    return RuleBook(
        apps=tuple(AppEntry(app.app_source, app.title) for app in catalogue.apps),
        event_types=tuple(
            EventTypeEntry(
                entry.name,
                app.app_source,
                entry.description,
                tuple(payload_field(declared) for declared in entry.payload_fields),
            )
            for app in catalogue.apps
            for entry in app.event_types
        ),
        nudge_types=tuple(
            NudgeTypeEntry(
                rule.nudge_type,
                rule.shown_in,
                rule.target_app,
                nudge_kind(rule),
                dict(rule.messages),
            )
            for rule in catalogue.nudge_rules
        ),
        variants=tuple(
            VariantEntry(
                experiment.nudge_type,
                variant.variant,
                position,
                dict(variant.messages),
                experiment.mode,
                variant.weight,
            )
            for experiment in book
            for position, variant in enumerate(experiment.variants)
        ),
        settings=settings,
    )


def nudge_kind(rule: NudgeRule) -> str:
    """``cross_app`` when the events alone decide the rule (the degraded mode offers it
    before the worker runs), else ``journey``."""
    return CROSS_APP if isinstance(rule, CrossAppNudgeRule) else JOURNEY


def payload_field(declared: PayloadField) -> Mapping[str, object]:
    return {
        "name": declared.name,
        "kind": declared.kind,
        "minimum": declared.minimum,
        "maximum": declared.maximum,
        "required": declared.required,
        "field": declared.field,
        "messages": dict(declared.messages),
    }
