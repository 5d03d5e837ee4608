"""The store-backed ``ExtractionCache`` under the port's contract, on SQLite and PostgreSQL,
and its rows gone with the user when the user is forgotten."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from src.adapters.sql.tables import skills_extractions
from src.adapters.sqlalchemy_extraction_cache import SqlAlchemyExtractionCache
from src.application.skills import ExtractionCache
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.skills.test_extraction_cache import ExtractionCacheContract, key


def rows(container: Container, user_id: str | None = None) -> int:
    query = select(func.count()).select_from(skills_extractions)
    if user_id is not None:
        query = query.where(skills_extractions.c.user_id == user_id)
    with container.engine().connect() as connection:
        return int(connection.execute(query).scalar_one())


class TestStoreExtractionCache(ExtractionCacheContract):
    @pytest.fixture(autouse=True)
    def _store(self, flywheel: Container) -> None:
        self.container = flywheel

    def make_cache(self) -> ExtractionCache:
        return SqlAlchemyExtractionCache(self.container.engine())

    def test_entries_outlive_the_process_that_wrote_them(self, store_url: str) -> None:
        self.make_cache().put(key("u1"), ["Python", "gestion de projet"])
        reopened = open_flywheel(make_settings(store_url))
        try:
            cache = SqlAlchemyExtractionCache(reopened.engine())
            assert cache.get(key("u1")) == ("Python", "gestion de projet")
        finally:
            close_flywheel(reopened)

    def test_the_row_holds_the_texts_hash_never_the_text(self) -> None:
        text = "Airbus recherche un Data Engineer : Python, SQL"
        self.make_cache().put(key("u1", text=text), ["Python", "SQL"])
        with self.container.engine().connect() as connection:
            (row,) = connection.execute(select(skills_extractions)).mappings().all()
        assert row["input_sha256"] == key("u1", text=text).input_sha256
        assert text not in " ".join(str(value) for value in row.values())
        assert (row["kind"], row["prompt_version"]) == ("offer", "skills-v1")


def test_forgetting_a_user_erases_their_extractions_in_the_same_erasure(
    flywheel: Container,
) -> None:
    cache = SqlAlchemyExtractionCache(flywheel.engine())
    cache.put(key("alice"), ["Python"])
    cache.put(key("alice", text="son CV"), ["Excel"])
    cache.put(key("bob"), ["Python"])

    report = flywheel.erasure().forget("alice")

    assert report.skills_extractions == 2
    assert report.total == 2  # nothing else of alice was kept
    assert (rows(flywheel, "alice"), rows(flywheel, "bob")) == (0, 1)
    assert cache.get(key("alice")) is None
    assert cache.get(key("bob")) == ("Python",)
    assert flywheel.erasure().forget("alice").skills_extractions == 0
