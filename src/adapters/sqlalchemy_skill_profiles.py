"""``SkillProfiles`` on SQLAlchemy Core, for SQLite and PostgreSQL.

Each note is its own short transaction, written as the event is analysed: a user's
events reach the analyser one after the other within a batch, so an offer and a CV of
the same batch meet, and a batch that fails after it leaves a row that the next attempt
notes again, unchanged. The worker's alone (a private table), erased with the user.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from src.adapters.sql.database import read_connection
from src.adapters.sql.statements import upsert_of
from src.adapters.sql.tables import skill_profiles
from src.application.skills_gap import SkillProfile

_KEY = ("user_id", "kind", "source_id")


class SqlAlchemySkillProfiles:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = upsert_of(engine)

    def note(self, profile: SkillProfile) -> None:
        row: dict[str, Any] = {
            "user_id": profile.user_id,
            "kind": profile.kind,
            "source_id": profile.source_id,
            "event_hash": profile.event_hash,
            "skills": list(profile.skills),
            "title": profile.title,
            "company": profile.company,
            "noted_at": profile.noted_at,
        }
        statement = self._insert(skill_profiles).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={name: statement.excluded[name] for name in row if name not in _KEY},
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    def latest_cv(self, user_id: str) -> SkillProfile | None:
        found = self._read(user_id, "cv", 1)
        return found[0] if found else None

    def offers(self, user_id: str, limit: int) -> list[SkillProfile]:
        return self._read(user_id, "offer", limit)

    def _read(self, user_id: str, kind: str, limit: int) -> list[SkillProfile]:
        query = (
            select(skill_profiles)
            .where(skill_profiles.c.user_id == user_id, skill_profiles.c.kind == kind)
            .order_by(skill_profiles.c.noted_at.desc(), skill_profiles.c.event_hash.desc())
            .limit(limit)
        )
        with read_connection(self._engine) as connection:
            rows = connection.execute(query).all()
        return [
            SkillProfile(
                user_id=row.user_id,
                kind="cv" if row.kind == "cv" else "offer",
                source_id=row.source_id,
                event_hash=row.event_hash,
                skills=tuple(row.skills),
                noted_at=row.noted_at,
                title=row.title,
                company=row.company,
            )
            for row in rows
        ]
