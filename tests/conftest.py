"""Shared fixtures: a fresh store per test, on SQLite and on a real PostgreSQL.

Each PostgreSQL test gets a database of its own, created and dropped here, so runs never
see each other's data. Outside CI a missing PostgreSQL skips those tests; in CI
(``CI=true``) it fails them, so a green CI always means PostgreSQL was exercised.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection

from src.entrypoints.container import Container
from src.entrypoints.runtime import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

ADMIN_URL = os.environ.get(
    "PHOENIX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _admin_connection() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {ADMIN_URL}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}")


def database_url_for(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    name = f"pf_test_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url_for(name)
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flywheel.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on each store."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: no .env file, no retry pause, unless a test asks otherwise."""
    values: dict[str, Any] = {"database_url": database_url, "event_retry_backoff_seconds": 0}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # pydantic-settings init kwarg


def as_stored_before_the_check(connection: Connection) -> None:
    """Rows inserted in this transaction are let in as an older version let them in:
    PostgreSQL's insert triggers (the catalogue's check among them) are off for it. The
    worker is then the one to refuse such a row. SQLite's store has no such check."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")


@pytest.fixture
def flywheel(store_url: str) -> Iterator[Container]:
    """A migrated, open flywheel on each store."""
    container = open_flywheel(make_settings(store_url), migrate=True)
    try:
        yield container
    finally:
        close_flywheel(container)
