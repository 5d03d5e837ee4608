"""A skill's words as the matcher compares them: folded, lemmatised, stripped of filler.

"Méthodes agiles", "methode agile" and "MÉTHODE AGILE" must meet, while "C", "C++" and
"C#" must not. So a skill is cut into words (keeping ``+`` and ``#``, which make
different languages), French elisions and function words go, each word is lemmatised in
French then English (simplemma, whose dictionaries ship inside its wheel: nothing is
downloaded), accents and case are folded, and version marks ("CSS3", "CATIA V5") go; then
the vocabulary's level qualifiers ("anglais courant") and frame words ("langage SQL").

The lemmatiser only knows words spelt right: "reglementaires" (no accent) is not in its
French dictionary. A word it does not know loses a plural ``s`` or ``x`` instead, so the
accentless spellings French keyboards produce still meet their accented twins.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from simplemma import Lemmatizer, is_known

LANGUAGES = ("fr", "en")
# Words shorter than this are kept as written: the lemmatiser takes "js" for the English
# letter "j" and "aws" for "aw", while no skill abbreviation gains from a lemma.
MIN_LEMMA_LENGTH = 4
# Words this short are abbreviations ("UI", "UX", "SQL"), where one letter makes another
# skill: a spelling slip is never looked for in them.
SHORT_WORD = 3

_ELISION = re.compile(r"\b(?:d|l|qu|j|n|s)['’]", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+[+#]*|[+#]+")
_VERSION = re.compile(r"v\d+(?:\.\d+)*")
_TRAILING_VERSION = re.compile(r"([^\W\d_]{3,})\d+")
_ACRONYM_PLURAL = re.compile(r"[A-Z]{2,}s")  # "APIs", "KPIs": an abbreviation's plural
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})


@dataclass(frozen=True)
class Word:
    """One word of a skill: ``text`` as compared (its lemma, folded), ``surface`` as written
    (folded), ``acronym`` when written in capitals ("CI")."""

    text: str
    surface: str
    acronym: bool


@dataclass(frozen=True)
class SkillForm:
    """A skill as the matcher sees it: its words, and those words run together.

    ``compact`` is what equality is judged on: "Java Script", "JavaScript" and
    "javascript" share it, "Java" does not.
    """

    words: tuple[Word, ...]

    @property
    def compact(self) -> str:
        return "".join(word.text for word in self.words)

    @property
    def acronym(self) -> bool:
        """Every word written in capitals ("CI", "AD"), as abbreviations are."""
        return all(word.acronym for word in self.words)

    @property
    def signature(self) -> tuple[str, tuple[str, ...]]:
        """What a misspelling cannot change: the digits, and the short words ("UI" and
        "UX" are two skills however close "UI design" and "UX design" look)."""
        short = sorted(w.text for w in self.words if len(w.text) <= SHORT_WORD)
        return "".join(c for c in self.compact if c.isdigit()), tuple(short)

    def runs(self, longest: int) -> Iterator[SkillForm]:
        """Each run of consecutive words, up to ``longest`` words, as a form of its own."""
        count = len(self.words)
        for start in range(count):
            for end in range(start + 1, min(count, start + longest) + 1):
                yield SkillForm(self.words[start:end])


def fold(text: str) -> str:
    """Case and accents folded: "Électricité" -> "electricite"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class SkillNormaliser:
    """Turns skill text into ``SkillForm``; one per process (the lemmatiser caches)."""

    def __init__(
        self,
        function_words: Collection[str],
        qualifiers: Collection[str] = (),
        frames_before: Collection[str] = (),
        frames_after: Collection[str] = (),
        lemmatizer: Lemmatizer | None = None,
    ) -> None:
        self._lemmatizer = lemmatizer or Lemmatizer()
        self._function_words = frozenset(word.casefold() for word in function_words)
        # Compared as written (folded), not by lemma: the lemmatiser would take the English
        # "native" (React Native) for the French "natif".
        self._qualifiers = frozenset(fold(word) for word in qualifiers)
        self._frames_before = frozenset(fold(word) for word in frames_before)
        self._frames_after = frozenset(fold(word) for word in frames_after)

    def form(self, text: str) -> SkillForm:
        """The skill's words, without qualifiers, or frame words before or after its name."""
        words = [w for raw in _WORD.findall(_ELISION.sub(" ", text)) if (w := self._word(raw))]
        words = [word for word in words if word.surface not in self._qualifiers] or words
        while len(words) > 1 and words[0].surface in self._frames_before:
            words = words[1:]
        while len(words) > 1 and words[-1].surface in self._frames_after:
            words = words[:-1]
        return SkillForm(tuple(words))

    def _word(self, raw: str) -> Word | None:
        raw = unicodedata.normalize("NFC", raw)
        lowered = raw.casefold()
        if lowered in self._function_words or _VERSION.fullmatch(lowered):
            return None
        if trailing := _TRAILING_VERSION.fullmatch(lowered):
            lowered = trailing.group(1)
            raw = raw[: len(lowered)]
        return Word(fold(self._lemma(raw, lowered)), fold(lowered), acronym=raw.isupper())

    def _lemma(self, raw: str, word: str) -> str:
        if _ACRONYM_PLURAL.fullmatch(raw):
            return word[:-1]
        if len(word) < MIN_LEMMA_LENGTH or not word.isalpha():
            return word
        if not (raw.islower() or raw.istitle() or raw.isupper()):
            return word  # a name in mixed case ("NodeJS", "PowerShell") is no plural
        lemma = self._lemmatizer.lemmatize(word, LANGUAGES).casefold()
        if lemma != word or is_known(word, LANGUAGES):
            return lemma
        if word.endswith(("eaux", "eux")):
            return word[:-1]
        if word.endswith("s") and not word.endswith("ss"):
            return word[:-1]
        return word
