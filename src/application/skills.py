"""Skills an offer asks for against those a CV shows, and skills read from free text.

The comparison is a port (``SkillMatcher``) because matching well needs a lemmatiser and a
fuzzy matcher, which are libraries the application does not import; what every matcher
shares (cleaning what apps send, the result and its score) lives here, once.

Extracting skills from free text (an offer's or a CV's prose) is a second port
(``SkillsExtractor``): a language model behind an HTTP endpoint, slow and fallible, whose
answers are kept in an ``ExtractionCache`` so re-processing an event never asks again.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from src.domain.errors import FlywheelError, PayloadInvalidError

# Bounds on what one payload may ask of the matcher. A skill is a few words: anything
# longer is prose sent in the wrong field, cut rather than matched at length; a CV with
# more than this many distinct skills is a dump, and its tail is dropped. Both keep the
# comparison's cost bounded whatever an app (or an attacker) sends.
MAX_SKILLS = 100
MAX_SKILL_CHARS = 80

_SPACES = re.compile(r"\s+")


class SkillListInvalidError(PayloadInvalidError):
    """A skills field that is not a list of strings: the app's mistake, never retried."""


def clean_skills(value: object, *, field: str = "payload.skills") -> tuple[str, ...]:
    """The skills an app sent, as items fit to compare, in the app's order.

    Each item is stripped, its inner whitespace collapsed and cut to ``MAX_SKILL_CHARS``;
    empty items (no letter or digit: "", "-", "•") and repeats (the same words whatever
    their case) go; at most ``MAX_SKILLS`` items stay. ``None`` is no skills. Anything but
    a list (or tuple) of strings raises ``SkillListInvalidError`` naming ``field``.
    """
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise SkillListInvalidError(field, "must be a list of strings")
    kept: dict[str, str] = {}
    for position, item in enumerate(value):
        if not isinstance(item, str):
            raise SkillListInvalidError(f"{field}[{position}]", f"{item!r} is not a string")
        text = _SPACES.sub(" ", unicodedata.normalize("NFKC", item)).strip()
        text = text[:MAX_SKILL_CHARS].rstrip()
        if any(c.isalnum() for c in text) and text.casefold() not in kept:
            kept[text.casefold()] = text
            if len(kept) == MAX_SKILLS:
                break
    return tuple(kept.values())


@dataclass(frozen=True)
class SkillComparison:
    """What an offer asks for that a CV shows (``matched``) or lacks (``missing``).

    Both lists hold the offer's own words in the offer's order, so a message can quote
    them to the user as the recruiter wrote them. ``score`` is the share of the offer's
    skills the CV shows, from 0 to 1; an offer that names no skill asks for nothing the CV
    lacks, so its score is 1.
    """

    missing: tuple[str, ...]
    matched: tuple[str, ...]
    score: float

    @classmethod
    def from_verdicts(cls, offer_skills: Sequence[str], shown: Sequence[bool]) -> SkillComparison:
        """The comparison of an offer whose i-th skill the CV shows when ``shown[i]``."""
        if len(offer_skills) != len(shown):
            raise ValueError("one verdict per offer skill")
        matched = tuple(skill for skill, ok in zip(offer_skills, shown, strict=True) if ok)
        missing = tuple(skill for skill, ok in zip(offer_skills, shown, strict=True) if not ok)
        score = len(matched) / len(offer_skills) if offer_skills else 1.0
        return cls(missing=missing, matched=matched, score=round(score, 4))


class SkillMatcher(Protocol):
    """Compares the skills an offer asks for with those a CV shows.

    Implementations take the lists as apps send them and pass them through
    ``clean_skills`` first, so an offer's repeated or blank items never count.
    """

    def compare(self, offer_skills: Sequence[str], cv_skills: Sequence[str]) -> SkillComparison:
        """``missing`` and ``matched`` in the offer's own words and order."""
        ...


# --- skills read from free text ---------------------------------------------------------

TextKind = Literal["offer", "cv"]
OUTCOMES = ("ok", "timeout", "error", "invalid")
"""How a call to the model ended: answered, too slow, failed, answered nonsense."""


class SkillsExtractionError(FlywheelError):
    """A call to the skills extractor failed; the event's attempt fails with this message.

    ``outcome`` is one of ``OUTCOMES`` (never ``ok``), the label its metric counts.
    """

    outcome = "error"


class SkillsExtractionTimeoutError(SkillsExtractionError):
    """The model did not answer within its share of the event's processing time."""

    outcome = "timeout"


class SkillsAnswerInvalidError(SkillsExtractionError):
    """The model answered, but not with the JSON object it was asked for."""

    outcome = "invalid"


@dataclass(frozen=True)
class ExtractionKey:
    """What makes two extractions the same: the user, the kind of text, the model, the
    prompt's version and the text itself (by hash, so the key never holds the prose).

    The user belongs to the key, not only to the entry: two users who send the same text
    get entries of their own, so forgetting one never touches what the other is owed.
    """

    user_id: str
    kind: TextKind
    model: str
    prompt_version: str
    input_sha256: str

    @classmethod
    def of(
        cls, user_id: str, kind: TextKind, model: str, prompt_version: str, text: str
    ) -> ExtractionKey:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return cls(user_id, kind, model, prompt_version, digest)


class ExtractionCache(Protocol):
    """Skills already extracted, so an event processed again never calls the model again."""

    def get(self, key: ExtractionKey) -> tuple[str, ...] | None:
        """The skills stored under ``key``, or None."""
        ...

    def put(self, key: ExtractionKey, skills: Sequence[str]) -> None:
        """Store (or replace) the skills under ``key``."""
        ...

    def forget_user(self, user_id: str) -> int:
        """Erase every entry of this user; returns how many went."""
        ...


@dataclass(frozen=True)
class ExtractionTotals:
    """Counters since the extractor was built, as Prometheus wants them (never decreasing).

    ``calls`` counts calls to the model by outcome (``OUTCOMES``); a cache hit is not a
    call. ``latency_buckets`` are cumulative counts of calls at or under each bound of
    ``latency_bounds`` (Prometheus ``le`` buckets), whatever their outcome.
    """

    calls: Mapping[str, int]
    prompt_tokens: int
    completion_tokens: int
    latency_sum_seconds: float
    latency_bounds: tuple[float, ...]
    latency_buckets: tuple[int, ...]
    cache_hits: int
    cache_misses: int


class SkillsExtractor(Protocol):
    """Reads the skills out of an offer's or a CV's free text."""

    async def extract(self, user_id: str, kind: TextKind, text: str) -> tuple[str, ...]:
        """The skills the text names, cleaned like an app's list (``clean_skills``).

        Raises ``SkillsExtractionError`` (or a subclass) when the model cannot give them;
        the caller's event then fails this attempt and is retried by the worker.
        """
        ...

    def totals(self) -> ExtractionTotals:
        """The counters so far."""
        ...
