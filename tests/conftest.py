"""Helpers every test imports: settings for a test, the PostgreSQL server's admin URL and
this run's database names. The fixtures that give each test its store live in
``tests/databases.py``, a plugin the repository's ``conftest.py`` loads, so the bridge's
tests (``clients/python/tests``) get the same ones."""

from __future__ import annotations

import os
import re
import secrets
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection

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


RUN_ID = secrets.randbelow(2**31 - 1) + 1
RUN_LOCK_CLASS = 0x7066  # "pf": the first key of each run's advisory lock, its id the second
TEST_DATABASES = re.compile(r"^pf_test_r([0-9a-f]+)_[0-9a-f]+$")


def new_database_name() -> str:
    """A database name of this run, which the sweeps recognise."""
    return f"pf_test_r{RUN_ID:x}_{uuid.uuid4().hex[:12]}"


def _run_databases(admin: psycopg.Connection[Any]) -> dict[int, list[str]]:
    rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pf_test_r%'")
    runs: dict[int, list[str]] = {}
    for (name,) in rows.fetchall():
        if matched := TEST_DATABASES.match(name):
            runs.setdefault(int(matched.group(1), 16), []).append(name)
    return runs


def sweep_test_databases(admin: psycopg.Connection[Any], *, own: bool) -> list[str]:
    """Drop the databases of runs that are gone (their lock is free), and this run's own
    when ``own``; returns the names dropped."""
    dropped: list[str] = []
    for run, names in _run_databases(admin).items():
        if run == RUN_ID:
            if not own:
                continue
        else:
            free = admin.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, run)
            ).fetchone()
            if not (free and free[0]):
                continue  # that run is alive: its databases are in use
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            dropped.append(name)
        if run != RUN_ID:
            admin.execute("SELECT pg_advisory_unlock(%s, %s)", (RUN_LOCK_CLASS, run))
    return dropped


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
