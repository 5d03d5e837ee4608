"""The skills matcher for French (and English) job offers and CVs, offline.

An offer's skill is shown by the CV when, after normalising both (``normalise``):

1. it names a concept of the vocabulary that the CV names too, or implies ("anglais" and
   "English (C1)"; "Méthodes agiles" and "Scrum");
2. the CV has it word for word, alone or inside a longer item ("Spark" in "Apache Spark",
   "Excel" in "MS Excel"): never across a word boundary, so "Java" is not in "JavaScript";
   a one-letter skill ("C", "R") only alone, a two-letter one inside an item only where
   written in capitals;
3. or the CV has a spelling variant of it ("Kubernets", "Pyhton"), with the same digits.

A CV item also counts piece by piece, split at parentheses, commas and semicolons
("Linux (Debian, Ubuntu)" shows Linux, Debian and Ubuntu); an offer's item counts by its
main words too ("Excel (TCD)" is shown by "Excel"), since the recruiter's detail rarely
decides whether a CV shows the skill.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from src.adapters.skills.normalise import SkillForm
from src.adapters.skills.spelling import VariantIndex, inside_allowed
from src.adapters.skills.vocabulary import LONGEST_LABEL_WORDS, Vocabulary
from src.application.skills import SkillComparison, clean_skills

_PIECES = re.compile(r"[()\[\],;]")
_DETAIL = re.compile(r"\(.*?(?:\)|$)")


class FrenchSkillMatcher:
    """A ``SkillMatcher`` on the shipped vocabulary (or one given, for tests)."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self._vocabulary = Vocabulary.load() if vocabulary is None else vocabulary

    def compare(self, offer_skills: Sequence[str], cv_skills: Sequence[str]) -> SkillComparison:
        offer = clean_skills(offer_skills, field="offer_skills")
        cv_forms = [
            form
            for skill in clean_skills(cv_skills, field="cv_skills")
            for form in self._pieces(skill)
        ]
        cv = _CvSkills(cv_forms, self._vocabulary)
        return SkillComparison.from_verdicts(
            offer, [any(cv.shows(form) for form in self._alternatives(skill)) for skill in offer]
        )

    def _pieces(self, skill: str) -> Iterator[SkillForm]:
        yield self._form(skill)
        pieces = [piece for piece in _PIECES.split(skill) if piece.strip()]
        if len(pieces) > 1:
            yield from (self._form(piece) for piece in pieces)

    def _alternatives(self, skill: str) -> Iterator[SkillForm]:
        yield self._form(skill)
        main = _DETAIL.sub(" ", skill).strip()
        if main and main != skill:
            yield self._form(main)

    def _form(self, text: str) -> SkillForm:
        return self._vocabulary.normaliser.form(text)


class _CvSkills:
    """What one CV shows, indexed once per comparison."""

    def __init__(self, forms: Sequence[SkillForm], vocabulary: Vocabulary) -> None:
        self._vocabulary = vocabulary
        self._wholes = {form.compact for form in forms}
        runs = [run for form in forms for run in form.runs(LONGEST_LABEL_WORDS)]
        self._inside = {run.compact for run in runs if inside_allowed(run)}
        self._variants = VariantIndex(runs)
        self._concepts = {name for form in forms for name in vocabulary.concepts_in(form)}

    def shows(self, skill: SkillForm) -> bool:
        compact = skill.compact
        if not compact:
            return False
        concept = self._vocabulary.concept_of(skill)
        if concept is not None and concept in self._concepts:
            return True
        if compact in self._wholes:
            return True
        if compact in self._inside:
            return True
        return self._variants.find(skill) is not None
