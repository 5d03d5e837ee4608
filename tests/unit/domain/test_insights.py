"""Insights in the domain: their identity, their checks, and rules that fire on them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from src.domain.apps import default_catalogue
from src.domain.insights import Insight, InsightInvalidError, insight_id
from src.domain.rule_data import rule_from_data
from src.domain.rules import HasInsight, RuleInvalidError, Where
from src.domain.user_journey import UserJourney

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def insight(**changes: object) -> Insight:
    values: dict[str, object] = {
        "user_id": "u1",
        "kind": "skills_gap",
        "source_hashes": ("h-offer", "h-cv"),
        "data": {"missing_count": 2},
        "messages": {"fr": "deux", "en": "two"},
        "created_at": AT,
        **changes,
    }
    return Insight(**values)  # type: ignore[arg-type]


def test_the_id_is_the_kind_and_the_source_hashes_whatever_their_order() -> None:
    assert insight().insight_id == insight(source_hashes=("h-cv", "h-offer")).insight_id
    assert insight().insight_id == insight_id("skills_gap", ["h-cv", "h-offer"])
    assert insight().insight_id != insight(kind="other").insight_id
    assert insight().insight_id != insight(source_hashes=("h-offer",)).insight_id
    assert len(insight().insight_id) == 64


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "Skills Gap"}, "kind"),
        ({"source_hashes": ()}, "source_hashes"),
        ({"messages": {"fr": "deux"}}, "messages.en"),
        ({"messages": {"fr": " ", "en": "two"}}, "messages.fr"),
    ],
)
def test_an_insight_that_cannot_be_stored_is_refused_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InsightInvalidError) as refused:
        insight(**changes)
    assert refused.value.field == field


def test_a_rule_on_an_insight_is_declared_as_data() -> None:
    rule = rule_from_data(
        "gap",
        {
            "shown_in": "phoenix-cv",
            "target_app": "phoenix-cv",
            "when": [
                {
                    "insight": "skills_gap",
                    "where": [{"field": "missing_count", "op": ">=", "value": 1}],
                }
            ],
            "converts_on": ["cv.generated"],
        },
    )
    assert rule.when == (HasInsight("skills_gap", 1, (Where("missing_count", ">=", 1),)),)


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ({"insight": ""}, "rules.gap.when.0.insight"),
        ({"insight": "skills_gap", "within_days": 7}, "rules.gap.when.0.within_days"),
        ({"insight": "skills_gap", "at_least": 0}, "rules.gap.when.0.at_least"),
    ],
)
def test_a_mistake_in_an_insight_condition_names_its_place(
    condition: dict[str, object], field: str
) -> None:
    table = {"shown_in": "phoenix-cv", "target_app": "phoenix-cv", "when": [condition]}
    with pytest.raises(RuleInvalidError) as refused:
        rule_from_data("gap", table)
    assert refused.value.field == field


def raise_in(journey: UserJourney, data: dict[str, object]) -> None:
    catalogue = default_catalogue()
    journey.raise_insight(
        insight_id=insight_id("skills_gap", [str(data)]),
        kind="skills_gap",
        source_hashes=[str(data)],
        data=data,
        messages={"fr": "f", "en": "e"},
        created_at=AT,
        marks=catalogue.insight_marks_for("skills_gap", data),
    )


def test_the_shipped_rule_fires_on_a_gap_and_not_on_a_cv_that_shows_everything() -> None:
    rule = default_catalogue().rules_by_type["skills_gap_to_cv"]
    journey = UserJourney(user_id="u1")
    raise_in(journey, {"missing_count": 0})
    assert not rule.is_due(journey, AT)
    raise_in(journey, {"missing_count": 3})
    assert rule.is_due(journey, AT)
    assert journey.detect_nudges([rule], AT) == ["skills_gap_to_cv"]
