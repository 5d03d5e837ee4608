"""The store each test gets: a fresh database per test, on SQLite and on a real PostgreSQL.

A plugin (the repository's ``conftest.py`` loads it), so the service's tests and the
bridge's (``clients/python/tests``) share these fixtures and one lock per run.

Each PostgreSQL test gets a database of its own, created and dropped here, so runs never
see each other's data. Outside CI a missing PostgreSQL skips those tests; in CI
(``CI=true``) it fails them, so a green CI always means PostgreSQL was exercised.

A run interrupted (Ctrl+C, SIGTERM) drops its databases on the way out; one killed
outright leaves them, and the next run drops them. Each run's databases carry its id
(``pf_test_r<run>_…``) and the run holds a session advisory lock on that id while it
lives: a run sweeps only the databases of runs whose lock is free, so runs side by side
never drop each other's.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.settings import Settings
from tests.conftest import (
    ADMIN_URL,
    RUN_ID,
    RUN_LOCK_CLASS,
    _admin_connection,
    database_url_for,
    make_settings,
    new_database_name,
    sweep_test_databases,
)


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # so the session's teardown runs, as on Ctrl+C


@pytest.fixture(scope="session", autouse=True)
def swept_test_databases() -> Iterator[None]:
    """Holds this run's lock; sweeps dead runs' databases at start, its own at the end."""
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        yield  # no PostgreSQL: the tests that need it say so themselves
        return
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        admin.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, RUN_ID))
        sweep_test_databases(admin, own=False)
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        try:
            sweep_test_databases(admin, own=True)
        finally:
            admin.close()  # releases the lock


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    name = new_database_name()
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


@pytest.fixture
def flywheel_settings(store_url: str) -> Settings:
    """The settings ``flywheel`` opens with: a module overrides this fixture to run on one
    store only, or with other settings."""
    return make_settings(store_url)


@pytest.fixture
def flywheel(flywheel_settings: Settings) -> Iterator[Container]:
    """A migrated, open flywheel, on each store unless the module chose its settings; a
    module that needs more (events, a projection run) overrides it, asking for this one."""
    container = open_flywheel(flywheel_settings, migrate=True)
    try:
        yield container
    finally:
        close_flywheel(container)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for a PostgreSQL database is marked ``postgres``, as the PostgreSQL
    param of ``store_url`` is, so ``-m "not postgres"`` leaves out every test that needs
    the server (the quick tier, ``scripts/test.sh --quick``)."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
