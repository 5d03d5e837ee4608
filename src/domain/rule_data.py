"""A rule from plain data (a TOML table, a JSON object), for rules not yet in an app module.

The shape mirrors ``ActivityNudgeRule``::

    [stress_relief]
    shown_in = "phoenix-rise"
    target_app = "phoenix-rise"
    converts_on = ["rise.meditation"]        # optional: default any event of target_app
    unless_since = ["rise.meditation"]       # optional
    messages = { fr = "...", en = "..." }    # optional

    [[stress_relief.when]]                   # every one must hold
    count = ["rise.journal_entry"]           # event types
    at_least = 3                             # default 1
    within_days = 7                          # default: ever
    where = [{ field = "stress_level", op = ">=", value = 7 }]

    [[stress_relief.unless]]                 # none may hold
    active_in = "phoenix-rise"

A condition may also be on insights an analyser raised (``insight = "skills_gap"``, with
``at_least`` and ``where`` on the insight's data).

Errors name the place to fix (``rules.stress_relief.when.0.at_least``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from src.domain.rules import (
    OPERATORS,
    ActiveIn,
    ActivityNudgeRule,
    Condition,
    Count,
    HasInsight,
    RuleInvalidError,
    Where,
)

RULE_KEYS = ("shown_in", "target_app", "when", "unless", "unless_since", "converts_on", "messages")
COUNT_KEYS = ("count", "at_least", "within_days", "where")
INSIGHT_KEYS = ("insight", "at_least", "where")


def rule_from_data(nudge_type: str, table: Mapping[str, Any]) -> ActivityNudgeRule:
    at = f"rules.{nudge_type}"
    for key in table:
        if key not in RULE_KEYS:
            raise RuleInvalidError(f"{at}.{key}", f"unknown key; known: {', '.join(RULE_KEYS)}")
    shown_in = _text(table.get("shown_in"), f"{at}.shown_in")
    target_app = _text(table.get("target_app"), f"{at}.target_app")
    when = _conditions(table.get("when"), f"{at}.when", required=True)
    unless = _conditions(table.get("unless", []), f"{at}.unless", required=False)
    messages = table.get("messages", {})
    if not isinstance(messages, dict) or not all(
        isinstance(v, str) and v.strip() for v in messages.values()
    ):
        raise RuleInvalidError(f"{at}.messages", "must map languages to texts")
    try:
        return ActivityNudgeRule(
            nudge_type=nudge_type,
            shown_in=shown_in,
            target_app=target_app,
            when=when,
            unless=unless,
            unless_since=_texts(table.get("unless_since", []), f"{at}.unless_since"),
            converts_on=_texts(table.get("converts_on", []), f"{at}.converts_on"),
            messages=dict(messages),
        )
    except RuleInvalidError as error:
        raise RuleInvalidError(f"{at}.{error.field}", error.message) from None


def _conditions(value: object, at: str, *, required: bool) -> tuple[Condition, ...]:
    if not isinstance(value, list) or (required and not value):
        raise RuleInvalidError(at, "must be a list of one or more conditions ([[...]] tables)")
    return tuple(_condition(item, f"{at}.{index}") for index, item in enumerate(value))


def _condition(item: object, at: str) -> Condition:
    if not isinstance(item, dict):
        raise RuleInvalidError(at, "a condition is a table")
    if "active_in" in item:
        if len(item) != 1:
            raise RuleInvalidError(at, "active_in stands alone in its condition")
        return ActiveIn(_text(item["active_in"], f"{at}.active_in"))
    if "insight" in item:
        return _insight_condition(item, at)
    for key in item:
        if key not in COUNT_KEYS:
            raise RuleInvalidError(
                f"{at}.{key}", f"unknown key; a condition is active_in or {', '.join(COUNT_KEYS)}"
            )
    where_items = item.get("where", [])
    if not isinstance(where_items, list):
        raise RuleInvalidError(f"{at}.where", "must be a list of {field, op, value} tables")
    wheres = tuple(_where(w, f"{at}.where.{i}") for i, w in enumerate(where_items))
    try:
        return Count(
            event_types=_texts(item.get("count"), f"{at}.count"),
            at_least=item.get("at_least", 1),
            within_days=item.get("within_days"),
            where=wheres,
        )
    except RuleInvalidError as error:
        raise RuleInvalidError(f"{at}.{error.field}", error.message) from None


def _insight_condition(item: dict[str, Any], at: str) -> HasInsight:
    for key in item:
        if key not in INSIGHT_KEYS:
            raise RuleInvalidError(
                f"{at}.{key}", f"unknown key; an insight condition has {', '.join(INSIGHT_KEYS)}"
            )
    where_items = item.get("where", [])
    if not isinstance(where_items, list):
        raise RuleInvalidError(f"{at}.where", "must be a list of {field, op, value} tables")
    wheres = tuple(_where(w, f"{at}.where.{i}") for i, w in enumerate(where_items))
    kind = _text(item["insight"], f"{at}.insight")
    try:
        return HasInsight(
            kind=kind,
            at_least=item.get("at_least", 1),
            where=wheres,
        )
    except RuleInvalidError as error:
        raise RuleInvalidError(f"{at}.{error.field}", error.message) from None


def _where(item: object, at: str) -> Where:
    if not isinstance(item, dict) or set(item) != {"field", "op", "value"}:
        raise RuleInvalidError(at, "a where is a table of exactly field, op and value")
    value = item["value"]
    if not isinstance(value, int | float | str | bool):
        raise RuleInvalidError(f"{at}.value", "must be a number, a text or true/false")
    op = item["op"]
    if op not in OPERATORS:
        raise RuleInvalidError(f"{at}.op", f"must be one of {', '.join(OPERATORS)}")
    return Where(_text(item["field"], f"{at}.field"), op, value)


def _text(value: object, at: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleInvalidError(at, "a non-empty text is required")
    return value


def _texts(value: object, at: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RuleInvalidError(at, "must be a list of texts")
    return tuple(value)
