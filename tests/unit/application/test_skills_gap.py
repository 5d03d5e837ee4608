"""The skills-gap analyser on in-memory profiles, and through the processor into a
journey: the insight, its message, the nudge it raises, and its conversion."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from src.adapters.skills.french_matcher import FrenchSkillMatcher
from src.application.ports.inbox import StoredEvent
from src.application.skills import ExtractionTotals, TextKind
from src.application.skills_gap import LazySkillMatcher, SkillProfile, SkillsGapAnalyser
from src.domain.insights import Insight, insight_id
from tests.unit.application.conftest import World

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OFFER = {
    "offer_id": "airbus-42",
    "title": "Ingénieur données",
    "company": "Airbus",
    "skills": ["Python", "SQL", "Docker", "anglais"],
}


class MemorySkillProfiles:
    """``SkillProfiles`` in memory, ordered as the store orders them."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], SkillProfile] = {}

    def note(self, profile: SkillProfile) -> None:
        self.rows[(profile.user_id, profile.kind, profile.source_id)] = profile

    def _newest(self, user_id: str, kind: str) -> list[SkillProfile]:
        mine = [p for (u, k, _), p in self.rows.items() if u == user_id and k == kind]
        return sorted(mine, key=lambda p: (p.noted_at, p.event_hash), reverse=True)

    def latest_cv(self, user_id: str) -> SkillProfile | None:
        found = self._newest(user_id, "cv")
        return found[0] if found else None

    def offers(self, user_id: str, limit: int) -> list[SkillProfile]:
        return self._newest(user_id, "offer")[:limit]


class FakeExtractor:
    """Reads a fixed answer per text; records what it was asked."""

    def __init__(self, answers: Mapping[str, tuple[str, ...]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, TextKind, str]] = []

    async def extract(self, user_id: str, kind: TextKind, text: str) -> tuple[str, ...]:
        self.asked.append((user_id, kind, text))
        return self.answers[text]

    def totals(self) -> ExtractionTotals:  # pragma: no cover - not read here
        raise NotImplementedError


@pytest.fixture(scope="module")
def matcher() -> FrenchSkillMatcher:
    return FrenchSkillMatcher()


def stored(
    event_id: int, event_type: str, payload: Mapping[str, object], at: datetime
) -> StoredEvent:
    app = "phoenix-letters" if event_type == "job_offer.analyzed" else "phoenix-cv"
    return StoredEvent(
        id=event_id,
        event_type=event_type,
        app_source=app,
        user_id="u1",
        payload=payload,
        timestamp=at,
        idempotency_key=None,
        event_hash=f"h{event_id}",
        attempts=1,
    )


def analyse(analyser: SkillsGapAnalyser, event: StoredEvent) -> list[Insight]:
    return list(asyncio.run(analyser.analyse(event)) or [])


def test_an_offer_then_a_cv_gives_the_gap_in_the_offers_words(
    matcher: FrenchSkillMatcher,
) -> None:
    analyser = SkillsGapAnalyser(matcher, MemorySkillProfiles())
    assert analyse(analyser, stored(1, "job_offer.analyzed", OFFER, T0)) == []
    cv = {"cv_id": "cv-1", "skills": ["Python (pandas)"]}
    (insight,) = analyse(analyser, stored(2, "cv.uploaded", cv, T0 + timedelta(hours=1)))
    assert insight.kind == "skills_gap"
    assert insight.insight_id == insight_id("skills_gap", ["h1", "h2"])
    assert insight.data["offer_id"] == "airbus-42"
    assert insight.data["missing"] == ["SQL", "Docker", "anglais"]
    assert insight.data["matched"] == ["Python"]
    assert insight.data["score"] == 0.25
    assert insight.messages["fr"] == (
        "3 compétences demandées par l'offre Airbus manquent à votre CV : SQL, Docker, anglais"
    )
    assert insight.messages["en"] == (
        "3 skills the Airbus offer asks for are missing from your CV: SQL, Docker, anglais"
    )
    assert insight.created_at == T0 + timedelta(hours=1)


def test_a_cv_then_an_offer_gives_the_same_insight(matcher: FrenchSkillMatcher) -> None:
    analyser = SkillsGapAnalyser(matcher, MemorySkillProfiles())
    cv = {"skills": ["Python", "English"]}
    assert analyse(analyser, stored(2, "cv.uploaded", cv, T0)) == []
    (insight,) = analyse(analyser, stored(1, "job_offer.analyzed", OFFER, T0))
    assert insight.insight_id == insight_id("skills_gap", ["h2", "h1"])
    assert insight.data["missing"] == ["SQL", "Docker"]
    assert insight.data["cv_id"] == "h2"  # no cv_id: the event's hash names it


def test_analysing_again_names_the_same_insight(matcher: FrenchSkillMatcher) -> None:
    analyser = SkillsGapAnalyser(matcher, MemorySkillProfiles())
    offer = stored(1, "job_offer.analyzed", OFFER, T0)
    cv = stored(2, "cv.uploaded", {"skills": ["Docker"]}, T0)
    analyse(analyser, offer)
    first = analyse(analyser, cv)
    assert analyse(analyser, cv) == first
    assert analyse(analyser, offer) == first


def test_a_new_cv_is_compared_with_every_offer_and_an_older_one_with_none(
    matcher: FrenchSkillMatcher,
) -> None:
    analyser = SkillsGapAnalyser(matcher, MemorySkillProfiles())
    analyse(analyser, stored(1, "job_offer.analyzed", OFFER, T0))
    other = {"offer_id": "thales-7", "company": "Thales", "skills": ["C++", "anglais"]}
    analyse(analyser, stored(2, "job_offer.analyzed", other, T0))
    new_cv = {"cv_id": "cv-2", "skills": ["Python", "SQL", "Docker", "anglais courant"]}
    insights = analyse(analyser, stored(3, "cv.generated", new_cv, T0 + timedelta(days=2)))
    by_offer = {i.data["offer_id"]: i for i in insights}
    assert by_offer["airbus-42"].data["missing"] == []
    assert by_offer["airbus-42"].data["score"] == 1.0
    assert by_offer["airbus-42"].messages["fr"] == (
        "Votre CV montre les 4 compétences demandées par l'offre Airbus."
    )
    assert by_offer["thales-7"].messages["en"] == (
        "1 skill the Thales offer asks for is missing from your CV: C++"
    )
    late = {"cv_id": "cv-0", "skills": []}
    assert analyse(analyser, stored(4, "cv.uploaded", late, T0 + timedelta(days=1))) == []


def test_free_text_goes_through_the_extractor_when_one_is_set(
    matcher: FrenchSkillMatcher,
) -> None:
    extractor = FakeExtractor(
        {
            "Nous cherchons un profil Python, SQL et Docker.": ("Python", "SQL", "Docker"),
            "Développeuse Python et Docker depuis 5 ans.": ("Python", "Docker"),
        }
    )
    analyser = SkillsGapAnalyser(matcher, MemorySkillProfiles(), extractor=extractor)
    offer = {"company": "Doctolib", "offer_text": "Nous cherchons un profil Python, SQL et Docker."}
    analyse(analyser, stored(1, "job_offer.analyzed", offer, T0))
    cv = {"cv_text": "Développeuse Python et Docker depuis 5 ans."}
    (insight,) = analyse(analyser, stored(2, "cv.uploaded", cv, T0))
    assert insight.data["missing"] == ["SQL"]
    assert extractor.asked == [
        ("u1", "offer", offer["offer_text"]),
        ("u1", "cv", cv["cv_text"]),
    ]


def test_free_text_without_an_extractor_and_other_events_are_left_alone(
    matcher: FrenchSkillMatcher,
) -> None:
    profiles = MemorySkillProfiles()
    analyser = SkillsGapAnalyser(matcher, profiles)
    assert analyse(analyser, stored(1, "job_offer.analyzed", {"offer_text": "SQL"}, T0)) == []
    assert analyse(analyser, stored(2, "letter.generated", {"skills": ["SQL"]}, T0)) == []
    assert profiles.rows == {}


def test_the_processor_raises_the_insight_and_the_nudge_which_a_new_cv_converts(
    world: World, matcher: FrenchSkillMatcher
) -> None:
    """Offer and CV in one batch (the user's events reach the analyser in time order),
    then a generated CV with the skills in a later batch."""
    analyser = SkillsGapAnalyser(matcher, MemorySkillProfiles())
    world.emit(
        "job_offer.analyzed", "phoenix-letters", "u1", payload=OFFER, timestamp=T0.isoformat()
    )
    later = (T0 + timedelta(minutes=5)).isoformat()
    world.emit("cv.uploaded", "phoenix-cv", "u1", payload={"skills": ["Python"]}, timestamp=later)
    summary = asyncio.run(world.processor(analysers=(analyser,)).drain())
    assert summary.processed == 2
    journey = world.queries.get_journey("u1")
    (insight,) = journey.insights
    assert insight.data["missing"] == ["SQL", "Docker", "anglais"]
    gap = [n for n in journey.nudges if n.nudge_type == "skills_gap_to_cv"]
    assert [(n.shown_in, n.status) for n in gap] == [("phoenix-cv", "active")]
    shown = world.queries.list_active_nudges("u1", "phoenix-cv")
    assert [n.nudge_type for n in shown] == ["skills_gap_to_cv"]

    done = {"skills": ["Python", "SQL", "Docker", "anglais"]}
    at = (T0 + timedelta(hours=2)).isoformat()
    world.emit("cv.generated", "phoenix-cv", "u1", payload=done, timestamp=at)
    asyncio.run(world.processor(analysers=(analyser,)).drain())
    journey = world.queries.get_journey("u1")
    gap = [n for n in journey.nudges if n.nudge_type == "skills_gap_to_cv"]
    assert [n.status for n in gap] == ["converted"]
    newest = max(journey.insights, key=lambda i: i.created_at)
    assert (newest.data["missing"], newest.data["score"]) == ([], 1.0)


def test_an_insight_about_another_user_fails_its_event(world: World) -> None:
    class Meddler:
        async def analyse(self, event: StoredEvent) -> list[Insight]:
            insight = Insight(
                user_id="someone-else",
                kind="gossip",
                source_hashes=("x",),
                data={},
                messages={"fr": "a", "en": "b"},
                created_at=T0,
            )
            return [insight]

    world.emit("letter.generated", "phoenix-letters", "u1")
    summary = asyncio.run(world.processor(analysers=(Meddler(),)).process_batch())
    assert (summary.processed, summary.failed) == (0, 1)
    assert "insight.user_id" in summary.errors[0]


def test_the_lazy_matcher_is_built_once_on_the_first_comparison(
    matcher: FrenchSkillMatcher,
) -> None:
    built: list[int] = []

    def build() -> FrenchSkillMatcher:
        built.append(1)
        return matcher

    lazy = LazySkillMatcher(build)
    assert built == []
    assert lazy.compare(["SQL"], ["sql"]).missing == ()
    assert lazy.compare(["SQL"], []).missing == ("SQL",)
    assert built == [1]
