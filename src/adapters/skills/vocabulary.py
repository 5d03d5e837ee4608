"""The shipped skills vocabulary (``vocabulary.toml``): concepts and their labels.

A concept is one skill under its French and English names ("anglais" = "English",
"gestion de projet" = "project management"). The file is data so a recruiter's word can
be added without touching the matcher; it is checked when loaded, because a label in two
concepts, or a label one typo away from another concept's, would make the matcher say
two different skills are the same.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import cast

from src.adapters.skills.normalise import SkillForm, SkillNormaliser
from src.adapters.skills.spelling import VariantIndex, inside_allowed
from src.domain.errors import FlywheelError

VOCABULARY_FILE = "vocabulary.toml"
LANGUAGE_KEYS = ("fr", "en")
WORD_LISTS = ("function_words", "qualifiers", "frame_words")
CONCEPT_KEYS = (*LANGUAGE_KEYS, "broader")
# Labels are found inside a longer skill up to this many words long.
LONGEST_LABEL_WORDS = 6


class VocabularyInvalidError(FlywheelError):
    """The skills vocabulary breaks one of its rules; the message lists every problem."""


def shipped_document() -> dict[str, object]:
    text = (resources.files("src.adapters.skills") / VOCABULARY_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True)
class Vocabulary:
    """Labels (compact forms) to concept ids, and what each concept implies."""

    normaliser: SkillNormaliser
    labels: Mapping[str, str]
    broader: Mapping[str, frozenset[str]]
    variants: VariantIndex

    @classmethod
    def load(cls, document: Mapping[str, object] | None = None) -> Vocabulary:
        """The vocabulary of ``document`` (a parsed TOML), the shipped one by default."""
        document = shipped_document() if document is None else document
        problems = shape_problems(document)
        if problems:
            raise VocabularyInvalidError("skills vocabulary: " + "; ".join(problems))
        words = {key: _lists(document[key]) for key in WORD_LISTS}
        normaliser = SkillNormaliser(
            function_words=[w for lang in LANGUAGE_KEYS for w in words["function_words"][lang]],
            qualifiers=[w for lang in LANGUAGE_KEYS for w in words["qualifiers"][lang]],
            frames_before=words["frame_words"]["fr"],
            frames_after=words["frame_words"]["en"],
        )
        concepts = {name: _lists(body) for name, body in _table(document["concepts"]).items()}
        labels: dict[str, str] = {}
        forms: dict[str, tuple[str, SkillForm]] = {}
        for name, body in concepts.items():
            for label in (label for lang in LANGUAGE_KEYS for label in body[lang]):
                form = normaliser.form(label)
                owner = labels.setdefault(form.compact, name)
                forms.setdefault(form.compact, (label, form))
                if owner != name:
                    problems.append(f"label {label!r} is in {owner!r} and in {name!r}")
        variants = VariantIndex(form for _, form in forms.values())
        for label, form in forms.values():
            near = [v for v in variants.variants(form) if labels[v] != labels[form.compact]]
            problems.extend(
                f"label {label!r} ({labels[form.compact]}) is a spelling variant of "
                f"{forms[other][0]!r} ({labels[other]})"
                for other in near
                if label < forms[other][0]
            )
        if problems:
            raise VocabularyInvalidError("skills vocabulary: " + "; ".join(problems))
        direct = {name: frozenset(body.get("broader", ())) for name, body in concepts.items()}
        broader = {name: _closure(name, direct) for name in concepts}
        return cls(normaliser, labels, broader, variants)

    def concept_of(self, form: SkillForm) -> str | None:
        """The concept a whole skill names, exactly or as a spelling variant of a label."""
        label = form.compact if form.compact in self.labels else self.variants.find(form)
        return None if label is None else self.labels[label]

    def concepts_in(self, form: SkillForm) -> set[str]:
        """Every concept a skill names, whole or in a run of its words, with those implied."""
        found = set()
        whole = self.concept_of(form)
        if whole is not None:
            found.add(whole)
        for run in form.runs(LONGEST_LABEL_WORDS):
            name = self.labels.get(run.compact)
            if name is not None and inside_allowed(run):
                found.add(name)
        return {implied for name in found for implied in self.broader[name]}


def shape_problems(document: Mapping[str, object]) -> list[str]:
    """What is wrong with the document's shape: missing lists, unknown keys, empty labels."""
    problems: list[str] = []
    for key in (*WORD_LISTS, "concepts"):
        if not isinstance(document.get(key), dict):
            problems.append(f"[{key}] is missing")
    unknown = set(document) - {*WORD_LISTS, "concepts"}
    problems.extend(f"unknown table [{key}]" for key in sorted(unknown))
    for key in WORD_LISTS:
        problems.extend(_language_problems(f"[{key}]", document.get(key)))
    concepts = document.get("concepts")
    if not isinstance(concepts, dict) or not concepts:
        problems.append("no concept")
        return problems
    for name, body in concepts.items():
        where = f"concept {name!r}"
        problems.extend(_language_problems(where, body))
        if not isinstance(body, dict):
            continue
        problems.extend(f"{where}: unknown key {k!r}" for k in sorted(set(body) - {*CONCEPT_KEYS}))
        broader = body.get("broader", [])
        if not _is_text_list(broader):
            problems.append(f"{where}: broader must be a list of concept ids")
            continue
        for other in broader:
            if other == name or other not in concepts:
                problems.append(f"{where}: broader {other!r} is not another concept")
    return problems


def _language_problems(where: str, body: object) -> Iterable[str]:
    if not isinstance(body, dict):
        return [f"{where} must be a table"] if body is not None else []
    return [
        f"{where} needs a non-empty list of {lang!r} labels"
        for lang in LANGUAGE_KEYS
        if not _is_text_list(body.get(lang)) or not body[lang]
    ]


def _is_text_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _table(value: object) -> dict[str, object]:
    return cast("dict[str, object]", value)  # shape_problems checked it is one


def _lists(value: object) -> dict[str, list[str]]:
    return cast("dict[str, list[str]]", _table(value))


def _closure(name: str, direct: Mapping[str, frozenset[str]]) -> frozenset[str]:
    seen = {name}
    pending = list(direct[name])
    while pending:
        other = pending.pop()
        if other not in seen:
            seen.add(other)
            pending.extend(direct.get(other, ()))
    return frozenset(seen)
