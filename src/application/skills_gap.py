"""The built-in skills-gap analyser: what an analysed offer asks for that the CV lacks.

Phoenix Letters analyses a job offer (``job_offer.analyzed``), Phoenix CV holds the CV
(``cv.uploaded``, ``cv.generated``). The two come from different apps, in different
batches and in either order, so the skills noted from each are kept in a store
(``SkillProfiles``): an offer is compared with the user's latest CV when it arrives, and
a new latest CV with every offer kept. Each comparison is the insight ``skills_gap``,
whose identity derives from the offer's and the CV's event hashes: comparing them again
names the same insight.

Offline: the comparison is the ``SkillMatcher`` port (a lemmatiser and a fuzzy matcher,
no network). When an app sends ``offer_text`` or ``cv_text`` instead of ``skills``, an
optional ``SkillsExtractor`` reads the skills from the text first; without one such an
event is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from src.application.ports.inbox import StoredEvent
from src.application.skills import (
    SkillComparison,
    SkillMatcher,
    SkillsExtractor,
    TextKind,
    clean_skills,
)
from src.domain.insights import Insight

KIND = "skills_gap"
OFFER_EVENTS = ("job_offer.analyzed",)
CV_EVENTS = ("cv.uploaded", "cv.generated")
MAX_OFFERS = 20
"""Offers a new CV is compared with: the latest ones. An offer older than these is one
the user has moved on from, and a CV should not raise a wave of insights."""


@dataclass(frozen=True)
class SkillProfile:
    """The skills noted from one offer or one CV of a user, and where they came from."""

    user_id: str
    kind: TextKind
    source_id: str
    """The app's ``offer_id`` / ``cv_id``, else the event's hash."""
    event_hash: str
    skills: tuple[str, ...]
    noted_at: datetime
    """When the event happened: the latest CV is the one that happened last."""
    title: str = ""
    company: str = ""


class SkillProfiles(Protocol):
    """What the analyser keeps per user between batches: one row per offer and per CV.

    A profile noted again (the same event re-processed, or the same ``cv_id`` sent anew)
    replaces the one there.
    """

    def note(self, profile: SkillProfile) -> None: ...

    def latest_cv(self, user_id: str) -> SkillProfile | None:
        """The CV that happened last (ties: the greater event hash)."""
        ...

    def offers(self, user_id: str, limit: int) -> list[SkillProfile]:
        """The ``limit`` offers that happened last, newest first."""
        ...


class LazySkillMatcher:
    """A matcher built on its first comparison: loading a lemmatiser's dictionaries takes
    about half a second, which a process that never compares an offer with a CV (a
    command, a worker of other apps' events) need not pay at start."""

    def __init__(self, build: Callable[[], SkillMatcher]) -> None:
        self._build = build
        self._matcher: SkillMatcher | None = None

    def compare(self, offer_skills: Sequence[str], cv_skills: Sequence[str]) -> SkillComparison:
        if self._matcher is None:
            self._matcher = self._build()
        return self._matcher.compare(offer_skills, cv_skills)


class SkillsGapAnalyser:
    """An ``EventAnalyser``: offers and CVs in, ``skills_gap`` insights out."""

    def __init__(
        self,
        matcher: SkillMatcher,
        profiles: SkillProfiles,
        extractor: SkillsExtractor | None = None,
        max_offers: int = MAX_OFFERS,
    ) -> None:
        self._matcher = matcher
        self._profiles = profiles
        self._extractor = extractor
        self._max_offers = max_offers

    async def analyse(self, event: StoredEvent) -> Sequence[Insight] | None:
        if event.event_type in OFFER_EVENTS:
            kind: TextKind = "offer"
        elif event.event_type in CV_EVENTS:
            kind = "cv"
        else:
            return None
        if event.event_hash is None:  # the processor hashes every event it analyses
            return None
        skills = await self._skills(event, kind)
        if skills is None:
            return None
        payload = event.payload
        id_field = "offer_id" if kind == "offer" else "cv_id"
        profile = SkillProfile(
            user_id=event.user_id,
            kind=kind,
            source_id=_text(payload.get(id_field)) or event.event_hash,
            event_hash=event.event_hash,
            skills=skills,
            noted_at=event.timestamp,
            title=_text(payload.get("title")) if kind == "offer" else "",
            company=_text(payload.get("company")) if kind == "offer" else "",
        )
        self._profiles.note(profile)
        if kind == "offer":
            cv = self._profiles.latest_cv(event.user_id)
            return [self._insight(profile, cv)] if cv is not None else None
        latest = self._profiles.latest_cv(event.user_id)
        if latest is None or latest.event_hash != profile.event_hash:
            return None  # an older CV arriving late: the latest one was compared already
        return [
            self._insight(offer, profile)
            for offer in self._profiles.offers(event.user_id, self._max_offers)
        ]

    async def _skills(self, event: StoredEvent, kind: TextKind) -> tuple[str, ...] | None:
        """The payload's ``skills``, else those the extractor reads from its free text."""
        payload = event.payload
        if payload.get("skills") is not None:
            return clean_skills(payload["skills"])
        text = payload.get(f"{kind}_text")
        if self._extractor is None or not isinstance(text, str) or not text.strip():
            return None
        return await self._extractor.extract(event.user_id, kind, text)

    def _insight(self, offer: SkillProfile, cv: SkillProfile) -> Insight:
        comparison = self._matcher.compare(offer.skills, cv.skills)
        return Insight(
            user_id=offer.user_id,
            kind=KIND,
            source_hashes=(offer.event_hash, cv.event_hash),
            data={
                "offer_id": offer.source_id,
                "title": offer.title,
                "company": offer.company,
                "cv_id": cv.source_id,
                "missing": list(comparison.missing),
                "matched": list(comparison.matched),
                "missing_count": len(comparison.missing),
                "score": comparison.score,
            },
            messages=messages(offer, comparison),
            created_at=max(offer.noted_at, cv.noted_at),
        )


def messages(offer: SkillProfile, comparison: SkillComparison) -> Mapping[str, str]:
    """The insight's sentence in French and English, quoting the offer's own words."""
    name = offer.company or offer.title
    fr_offer = f"l'offre {name}" if name else "l'offre analysée"
    en_offer = f"the {name} offer" if name else "the analysed offer"
    missing = comparison.missing
    asked = len(missing) + len(comparison.matched)
    listed = ", ".join(missing)
    if not missing:
        return {
            "fr": f"Votre CV montre les {asked} compétences demandées par {fr_offer}.",
            "en": f"Your CV shows all {asked} skills {en_offer} asks for.",
        }
    if len(missing) == 1:
        return {
            "fr": f"1 compétence demandée par {fr_offer} manque à votre CV : {listed}",
            "en": f"1 skill {en_offer} asks for is missing from your CV: {listed}",
        }
    return {
        "fr": f"{len(missing)} compétences demandées par {fr_offer} manquent à votre CV : {listed}",
        "en": f"{len(missing)} skills {en_offer} asks for are missing from your CV: {listed}",
    }


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
