"""How a skill's words are normalised before matching."""

from __future__ import annotations

import pytest

from src.adapters.skills.vocabulary import Vocabulary


def compact(vocabulary: Vocabulary, text: str) -> str:
    return vocabulary.normaliser.form(text).compact


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Électricité", "ELECTRICITE"),  # accents and case
        ("Méthodes agiles", "méthode agile"),  # French lemmas
        ("Bases de données relationnelles", "base de données relationnelle"),
        ("unit tests", "Unit testing"),  # English lemmas
        ("affaires reglementaires", "Affaires réglementaires"),  # no accent: plural dropped
        ("Java Script", "Javascript"),  # words run together
        ("Node.js", "NodeJS"),
        ("REST APIs", "REST API"),  # an abbreviation's plural
        ("CSS3", "CSS"),  # a version glued to the name
        ("CATIA V5", "Catia"),
        ("Gestion d'équipe", "gestion équipe"),  # elision and function words
        ("Anglais courant", "anglais"),  # a level
        ("Bonnes connaissances en SQL", "SQL"),
        ("Norme ISO 9001", "ISO 9001"),  # a frame word before the name
        ("ISO 9001 standard", "ISO 9001"),
        ("Cœur de métier", "coeur metier"),
    ],
)
def test_spellings_of_one_skill_meet(vocabulary: Vocabulary, one: str, other: str) -> None:
    assert compact(vocabulary, one) == compact(vocabulary, other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("C", "C++"),
        ("C", "C#"),
        ("C++", "C#"),
        ("ISO 9001", "ISO 14001"),  # a standalone number is part of the name
        ("React Native", "React"),  # "native" qualifies languages only in French ("natif")
        ("Visual Basic", "Visual"),
        ("Développement logiciel", "Développement"),  # a frame word after a French name stays
        ("Marketing opérationnel", "Marketing"),
    ],
)
def test_different_skills_stay_apart(vocabulary: Vocabulary, one: str, other: str) -> None:
    assert compact(vocabulary, one) != compact(vocabulary, other)


def test_a_skill_made_only_of_qualifiers_keeps_its_words(vocabulary: Vocabulary) -> None:
    assert compact(vocabulary, "Expert") == "expert"
    assert compact(vocabulary, "Courant") == "courant"


def test_capitals_mark_abbreviations(vocabulary: Vocabulary) -> None:
    words = vocabulary.normaliser.form("GitLab CI").words
    assert [(w.text, w.acronym) for w in words] == [("gitlab", False), ("ci", True)]
