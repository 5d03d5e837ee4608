"""The skills matcher: synonyms, lemmas, spelling slips, and no false friends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.adapters.skills.french_matcher import FrenchSkillMatcher
from src.application.skills import MAX_SKILLS, SkillListInvalidError

PAIRS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "skills_gap_pairs.json"


def test_the_offer_asks_for_python_sql_docker_and_anglais(matcher: FrenchSkillMatcher) -> None:
    comparison = matcher.compare(["Python", "SQL", "Docker", "anglais"], ["Python"])
    assert comparison.missing == ("SQL", "Docker", "anglais")
    assert comparison.matched == ("Python",)
    assert comparison.score == 0.25


@pytest.mark.parametrize(
    ("offer", "cv"),
    [
        ("anglais", "English"),
        ("Anglais courant", "English (C1)"),
        ("gestion de projet", "Project Management"),
        ("PostgreSQL", "Postgres"),
        ("JavaScript", "JS"),
        ("Kubernetes", "Kubernets"),
        ("Javascript", "Java Script"),
        ("Python", "Pyhton"),
        ("Excel", "MS Excel"),
        ("Spark", "Apache Spark"),
        ("SQL", "PostgreSQL"),  # a narrower concept shows the broader one
        ("Méthodes agiles", "Scrum"),
        ("CI/CD", "GitLab CI"),  # an abbreviation in capitals inside a longer item
        ("Linux", "Linux (Debian, Ubuntu)"),
        ("VBA", "Excel (TCD, macros VBA)"),  # a piece inside parentheses
        ("Excel (TCD)", "Excel"),  # the offer's detail does not decide
        ("Travail en équipe", "esprit d'équipe"),
        ("Rigueur", "rigoureuse"),
    ],
)
def test_the_cv_shows_the_skill(matcher: FrenchSkillMatcher, offer: str, cv: str) -> None:
    assert matcher.compare([offer], [cv]).missing == ()


@pytest.mark.parametrize(
    ("offer", "cv"),
    [
        ("Java", "JavaScript"),
        ("JavaScript", "Java"),
        ("C", "C++"),
        ("C", "C#"),
        ("C", "Objective-C"),
        ("C++", "C"),
        ("C#", "C++"),
        ("R", "Rust"),
        ("R", "R&D"),
        ("Go", "Go to market"),  # a short name in lower case is a word, not Golang
        ("CI/CD", "Gitlab ci"),
        ("SQL", "NoSQL"),
        ("MySQL", "MSSQL"),
        ("UX design", "UI design"),
        ("ISO 9001", "ISO 14001"),
        ("Scrum", "Méthodes agiles"),  # the broader concept does not show the narrower
        ("Scrum", "Kanban"),
        ("Excel", "Excellence"),
        ("React Native", "React"),
        ("Lean Six Sigma", "Lean"),
        ("Google Analytics", "Google Ads"),
    ],
)
def test_false_friends_do_not_match(matcher: FrenchSkillMatcher, offer: str, cv: str) -> None:
    assert matcher.compare([offer], [cv]).missing == (offer,)


def test_missing_and_matched_keep_the_offers_words_and_order(matcher: FrenchSkillMatcher) -> None:
    comparison = matcher.compare(
        ["Anglais courant", "Docker", "python ", "Docker", "SQL"], ["sql", "Python 3", "english"]
    )
    assert comparison.matched == ("Anglais courant", "python", "SQL")
    assert comparison.missing == ("Docker",)
    assert comparison.score == 0.75


def test_an_offer_without_skills_lacks_nothing(matcher: FrenchSkillMatcher) -> None:
    comparison = matcher.compare([], ["Python"])
    assert (comparison.missing, comparison.matched, comparison.score) == ((), (), 1.0)


def test_an_empty_cv_misses_everything(matcher: FrenchSkillMatcher) -> None:
    assert matcher.compare(["Python", "SQL"], []).missing == ("Python", "SQL")


def test_what_an_app_sends_is_cleaned_and_capped(matcher: FrenchSkillMatcher) -> None:
    offer = [f"compétence {n}" for n in range(MAX_SKILLS * 3)]
    comparison = matcher.compare(offer, ["x" * 10_000] * 1000)
    assert len(comparison.missing) == MAX_SKILLS
    with pytest.raises(SkillListInvalidError):
        matcher.compare("Python, SQL", [])  # type: ignore[arg-type]  # the hostile input itself


@pytest.mark.parametrize("offer_id", ["offre-001", "offre-005", "offre-013", "offre-038"])
def test_pairs_of_the_labelled_set_as_examples(matcher: FrenchSkillMatcher, offer_id: str) -> None:
    pair = next(
        p for p in json.loads(PAIRS.read_text("utf-8")) if p["offer"]["offer_id"] == offer_id
    )
    comparison = matcher.compare(pair["offer"]["skills"], pair["cv"]["skills"])
    assert list(comparison.missing) == pair["expected_missing"]
