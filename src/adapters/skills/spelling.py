"""Spelling variants: "Kubernets" for "Kubernetes", "Pyhton" for "Python".

rapidfuzz scores the optimal string alignment distance (a swap of two letters is one
edit) between compact forms. Two forms are variants when they are similar enough and
share a signature: the same digits and the same short words, so neither "ISO 9001" /
"ISO 14001" nor "UI design" / "UX design" ever meet, however close they look.
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

from src.adapters.skills.normalise import SkillForm

# One slip in a six-letter word passes ("Pyhton"); one in five letters does not
# ("MySQL" / "MSSQL"), nor two in ten.
FUZZY_CUTOFF = 0.82
# Below this length no single edit reaches the cutoff, so the search is skipped.
FUZZY_MIN_LENGTH = 5
# Forms this short are found inside a longer skill only when written in capitals.
SHORT_FORM = 2


def inside_allowed(form: SkillForm) -> bool:
    """Whether this form may be found inside a longer skill: "SQL" in "SQL Server" may,
    "CI" in "GitLab CI" only written in capitals, "C" in "Objective-C" never."""
    length = len(form.compact)
    return length > SHORT_FORM or (length == SHORT_FORM and form.acronym)


class VariantIndex:
    """Compact forms to look for spelling variants among, grouped by signature."""

    def __init__(self, forms: Iterable[SkillForm]) -> None:
        groups: dict[tuple[str, tuple[str, ...]], dict[str, None]] = {}
        for form in forms:
            if len(form.compact) >= FUZZY_MIN_LENGTH:
                groups.setdefault(form.signature, {})[form.compact] = None
        self._groups = {signature: tuple(group) for signature, group in groups.items()}

    def variants(self, form: SkillForm) -> list[str]:
        """Every indexed compact form that is a variant of ``form``, closest first."""
        candidates = self._groups.get(form.signature)
        if len(form.compact) < FUZZY_MIN_LENGTH or not candidates:
            return []
        found = process.extract(
            form.compact,
            candidates,
            scorer=OSA.normalized_similarity,
            score_cutoff=FUZZY_CUTOFF,
            limit=None,
        )
        return [choice for choice, _, _ in found]

    def find(self, form: SkillForm) -> str | None:
        """The closest variant of ``form`` (maybe itself), or None."""
        return next(iter(self.variants(form)), None)
