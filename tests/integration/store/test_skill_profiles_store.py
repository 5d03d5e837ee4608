"""``SkillProfiles`` on each real store: what the skills-gap analyser keeps between
batches (the latest CV, the latest offers), replaced when noted again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from src.adapters.sqlalchemy_skill_profiles import SqlAlchemySkillProfiles
from src.application.skills_gap import SkillProfile
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def profile(kind: str, source: str, hours: int, *skills: str, user: str = "u1") -> SkillProfile:
    return SkillProfile(
        user_id=user,
        kind="cv" if kind == "cv" else "offer",
        source_id=source,
        event_hash=f"hash-{source}-{hours}",
        skills=skills,
        noted_at=T0 + timedelta(hours=hours),
        title="Data" if kind == "offer" else "",
        company="Airbus" if kind == "offer" else "",
    )


def test_the_latest_cv_and_the_latest_offers_whatever_the_order_noted(store_url: str) -> None:
    container = open_flywheel(make_settings(store_url), migrate=True)
    try:
        profiles = SqlAlchemySkillProfiles(container.engine())
        assert profiles.latest_cv("u1") is None
        assert profiles.offers("u1", 5) == []
        profiles.note(profile("cv", "cv-2", 5, "Python", "SQL"))
        profiles.note(profile("cv", "cv-1", 1, "Python"))  # older, arriving late
        profiles.note(profile("cv", "cv-9", 9, "R", user="u2"))
        for n in range(4):
            profiles.note(profile("offer", f"o{n}", n, "SQL", "anglais"))
        assert profiles.latest_cv("u1") == profile("cv", "cv-2", 5, "Python", "SQL")
        assert [p.source_id for p in profiles.offers("u1", 3)] == ["o3", "o2", "o1"]
        # Noted again (the same cv_id sent anew): replaced, not added.
        profiles.note(profile("cv", "cv-1", 7, "Python", "Docker"))
        assert profiles.latest_cv("u1") == profile("cv", "cv-1", 7, "Python", "Docker")
        assert profiles.offers("u1", 10)[0] == profile("offer", "o3", 3, "SQL", "anglais")
        assert len(profiles.offers("u1", 10)) == 4
        assert profiles.offers("u2", 10) == []
    finally:
        close_flywheel(container)
