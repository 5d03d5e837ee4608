"""What the model read stays the worker's: on a database set up as Supabase sets one up,
no role the REST API uses may read or write ``phoenix_skills_extractions``."""

from __future__ import annotations

import psycopg
import pytest
from postgrest_fake import make_it_supabase

from src.adapters.sqlalchemy_extraction_cache import SqlAlchemyExtractionCache
from src.application.skills import ExtractionKey
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres
TABLE = "phoenix_private.phoenix_skills_extractions"
ROLES = ("anon", "authenticated", "service_role")


def test_no_rest_role_has_any_right_on_the_cached_answers(postgres_url: str) -> None:
    make_it_supabase(postgres_url)
    # Whatever default privileges a project gave its roles, the table has none for them.
    with psycopg.connect(postgres_url, autocommit=True) as owner:
        owner.execute("CREATE SCHEMA IF NOT EXISTS phoenix_private")
        owner.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA phoenix_private "
            "GRANT ALL ON TABLES TO anon, authenticated, service_role"
        )
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        SqlAlchemyExtractionCache(container.engine()).put(
            ExtractionKey.of("alice", "cv", "qwen2.5:3b", "skills-v1", "mon CV"), ["Excel"]
        )
    finally:
        close_flywheel(container)

    with psycopg.connect(postgres_url, autocommit=True) as owner:
        security = owner.execute(
            "SELECT relrowsecurity FROM pg_class WHERE oid = %s::regclass", (TABLE,)
        ).fetchone()
        assert security == (True,)
        for role in ROLES:
            rights = owner.execute(
                "SELECT has_table_privilege(%s, %s, 'SELECT'), "
                "has_table_privilege(%s, %s, 'INSERT'), has_table_privilege(%s, %s, 'DELETE')",
                (role, TABLE) * 3,
            ).fetchone()
            assert rights == (False, False, False), role
    for role in ("anon", "authenticated"):
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f"SET ROLE {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(f"SELECT * FROM {TABLE}")  # noqa: S608 - the test's own name
    with psycopg.connect(postgres_url) as owner:
        assert owner.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (1,)  # noqa: S608
