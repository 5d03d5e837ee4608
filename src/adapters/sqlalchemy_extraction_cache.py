"""``ExtractionCache`` in the store (``phoenix_skills_extractions``), on SQLite and PostgreSQL.

What a model answered outlives the worker: an event processed again, by this worker after
a restart or by another one, finds the answer here and never calls the model again. A
put replaces the row (the same key asked again after an entry was lost, or two workers
that asked at once: the answers are the model's at temperature 0, either will do).
Erasing a user's rows is the user eraser's, in the erasure's own transaction;
``forget_user`` is here for the port, and for tools that clear one user's cache alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Engine, and_, delete, select

from src.adapters.sql.database import read_connection
from src.adapters.sql.statements import upsert_of
from src.adapters.sql.tables import skills_extractions as table
from src.adapters.sql.tables import utcnow
from src.application.skills import ExtractionKey


def _where(key: ExtractionKey) -> ColumnElement[bool]:
    return and_(
        table.c.user_id == key.user_id,
        table.c.kind == key.kind,
        table.c.model == key.model,
        table.c.prompt_version == key.prompt_version,
        table.c.input_sha256 == key.input_sha256,
    )


class SqlAlchemyExtractionCache:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = upsert_of(engine)

    def get(self, key: ExtractionKey) -> tuple[str, ...] | None:
        query = select(table.c.skills).where(_where(key))
        with read_connection(self._engine) as connection:
            skills = connection.execute(query).scalar()
        if not isinstance(skills, list):
            return None
        return tuple(str(skill) for skill in skills)

    def put(self, key: ExtractionKey, skills: Sequence[str]) -> None:
        row = {
            "user_id": key.user_id,
            "kind": key.kind,
            "model": key.model,
            "prompt_version": key.prompt_version,
            "input_sha256": key.input_sha256,
            "skills": list(skills),
        }
        statement = self._insert(table).values(row)
        upsert = statement.on_conflict_do_update(
            index_elements=[column.name for column in table.primary_key.columns],
            set_={"skills": statement.excluded.skills, "created_at": utcnow()},
        )
        with self._engine.begin() as connection:
            connection.execute(upsert)

    def forget_user(self, user_id: str) -> int:
        with self._engine.begin() as connection:
            return int(connection.execute(delete(table).where(table.c.user_id == user_id)).rowcount)
