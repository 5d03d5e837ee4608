"""The shipped vocabulary holds its rules, and the loader refuses a file that breaks them."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from src.adapters.skills.vocabulary import (
    LANGUAGE_KEYS,
    Vocabulary,
    VocabularyInvalidError,
    shape_problems,
    shipped_document,
)


def concepts() -> dict[str, dict[str, list[str]]]:
    document = shipped_document()
    table = document["concepts"]
    assert isinstance(table, dict)
    return table


def test_the_shipped_file_has_the_expected_shape() -> None:
    assert shape_problems(shipped_document()) == []


def test_a_few_dozen_concepts_each_with_a_french_and_an_english_label() -> None:
    table = concepts()
    assert len(table) >= 36
    for name, body in table.items():
        for lang in LANGUAGE_KEYS:
            assert body.get(lang), f"{name} has no {lang} label"
            assert all(isinstance(label, str) and label.strip() for label in body[lang])


def test_no_label_is_in_two_concepts(vocabulary: Vocabulary) -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for name, body in concepts().items():
        for lang in LANGUAGE_KEYS:
            for label in body[lang]:
                owners[vocabulary.normaliser.form(label).compact].add(name)
    shared = {label: names for label, names in owners.items() if len(names) > 1}
    assert shared == {}


def test_no_label_is_a_spelling_variant_of_another_concepts(vocabulary: Vocabulary) -> None:
    for name, body in concepts().items():
        for label in body["fr"] + body["en"]:
            form = vocabulary.normaliser.form(label)
            others = {vocabulary.labels[v] for v in vocabulary.variants.variants(form)}
            assert others <= {name}, f"{label!r} ({name}) is close to a label of {others}"


@pytest.mark.parametrize(
    ("french", "english"),
    [
        ("anglais", "English"),
        ("gestion de projet", "project management"),
        ("PostgreSQL", "Postgres"),
        ("JS", "JavaScript"),
        ("esprit d'équipe", "teamwork"),
        ("apprentissage automatique", "machine learning"),
    ],
)
def test_french_and_english_labels_name_one_concept(
    vocabulary: Vocabulary, french: str, english: str
) -> None:
    concept = vocabulary.concept_of(vocabulary.normaliser.form(french))
    assert concept is not None
    assert concept == vocabulary.concept_of(vocabulary.normaliser.form(english))


def test_a_narrower_concept_implies_the_broader_one(vocabulary: Vocabulary) -> None:
    scrum = vocabulary.concepts_in(vocabulary.normaliser.form("Scrum"))
    assert scrum == {"scrum", "agile"}
    assert vocabulary.concepts_in(vocabulary.normaliser.form("agilité")) == {"agile"}


def test_a_label_in_two_concepts_is_refused() -> None:
    document = copy.deepcopy(shipped_document())
    table = document["concepts"]
    assert isinstance(table, dict)
    table["typescript"]["en"].append("Java Script")  # "JavaScript" once spaces go
    with pytest.raises(VocabularyInvalidError, match=r"'Java Script' is in 'javascript'"):
        Vocabulary.load(document)


def test_a_label_one_slip_from_another_concepts_is_refused() -> None:
    document = copy.deepcopy(shipped_document())
    table = document["concepts"]
    assert isinstance(table, dict)
    table["kubectl"] = {"fr": ["Kubernets"], "en": ["kubectl"]}
    with pytest.raises(VocabularyInvalidError, match="spelling variant"):
        Vocabulary.load(document)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda t: t["english"].pop("en"), "concept 'english' needs a non-empty list of 'en'"),
        (lambda t: t["english"].update(fr=[]), "concept 'english' needs a non-empty list of 'fr'"),
        (lambda t: t["english"].update(fr=["  "]), "concept 'english' needs"),
        (lambda t: t["scrum"].update(broader=["agil"]), "broader 'agil' is not another"),
        (lambda t: t["scrum"].update(broader=["scrum"]), "broader 'scrum' is not another"),
        (lambda t: t["scrum"].update(labels=["x"]), "unknown key 'labels'"),
    ],
)
def test_a_malformed_concept_is_refused_with_a_message_naming_it(
    change: Callable[[dict[str, Any]], object], problem: str
) -> None:
    document = copy.deepcopy(shipped_document())
    change(document["concepts"])
    with pytest.raises(VocabularyInvalidError, match=problem):
        Vocabulary.load(document)


def test_missing_word_lists_are_refused() -> None:
    document = copy.deepcopy(shipped_document())
    del document["qualifiers"]
    with pytest.raises(VocabularyInvalidError, match=r"\[qualifiers\] is missing"):
        Vocabulary.load(document)
