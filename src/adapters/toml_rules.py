"""A rule file (TOML, in the data format of ``src.domain.rule_data``) for a dry-run of a
rule not yet deployed."""

from __future__ import annotations

import tomllib
from pathlib import Path

from src.domain.catalogue import Catalogue
from src.domain.rule_data import rule_from_data
from src.domain.rules import ActivityNudgeRule, RuleInvalidError


def load_rule(path: Path, nudge_type: str, catalogue: Catalogue) -> ActivityNudgeRule:
    """The rule ``nudge_type`` of the file, checked against the catalogue."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise RuleInvalidError("rule_file", f"{path}: cannot read it ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise RuleInvalidError("rule_file", f"{path}: {error}") from None
    table = document.get(nudge_type)
    if not isinstance(table, dict):
        found = ", ".join(sorted(document)) or "none"
        raise RuleInvalidError(
            "nudge_type", f"{path} declares no rule [{nudge_type}]; it declares: {found}"
        )
    rule = rule_from_data(nudge_type, table)
    try:
        catalogue.check_rule(rule)
    except RuleInvalidError as error:
        raise RuleInvalidError(f"rules.{nudge_type}.{error.field}", error.message) from None
    return rule
