"""A rule declared as plain data (a TOML table) builds the same rule an app module would."""

from __future__ import annotations

import tomllib

import pytest

from src.domain.rule_data import rule_from_data
from src.domain.rules import ActiveIn, Count, RuleInvalidError, Where

TEXT = """
[low_mood]
shown_in = "app-mood"
target_app = "app-mood"
converts_on = ["walk.taken"]
unless_since = ["walk.taken"]
messages = { fr = "Une marche ?" }

[[low_mood.when]]
count = ["mood.logged"]
at_least = 3
within_days = 7
where = [{ field = "mood", op = "<=", value = 3 }]

[[low_mood.unless]]
active_in = "app-blog"
"""


def test_a_toml_table_becomes_the_rule() -> None:
    rule = rule_from_data("low_mood", tomllib.loads(TEXT)["low_mood"])
    assert rule.when == (Count(("mood.logged",), 3, 7, (Where("mood", "<=", 3),)),)
    assert rule.unless == (ActiveIn("app-blog"),)
    assert rule.converts_on == ("walk.taken",)
    assert rule.window_days == 7


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("at_least = 3", "at_least = 0"), "rules.low_mood.when.0.at_least"),
        (("within_days = 7", "within_days = 0"), "rules.low_mood.when.0.within_days"),
        (('op = "<="', 'op = "~"'), "rules.low_mood.when.0.where.0.op"),
        (('shown_in = "app-mood"', ""), "rules.low_mood.shown_in"),
        (("at_least = 3", "at_leest = 3"), "rules.low_mood.when.0.at_leest"),
        (('active_in = "app-blog"', "active_in = 3"), "rules.low_mood.unless.0.active_in"),
    ],
)
def test_a_mistake_names_its_place(change: tuple[str, str], field: str) -> None:
    table = tomllib.loads(TEXT.replace(*change))["low_mood"]
    with pytest.raises(RuleInvalidError) as error:
        rule_from_data("low_mood", table)
    assert error.value.field == field
