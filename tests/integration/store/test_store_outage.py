"""A store that goes away mid-save blames no event, even when it answers again at once.

The error itself says it was an outage (``store_outage``), read on real drivers' errors
as the libraries wrap them; and a worker whose save had its connections killed gives the
batch back whole and uncounted, instead of saving it in parts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest
from bridge_support import closed_port, with_port
from eventsourcing.persistence import OperationalError as LibraryOperationalError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from src.adapters.postgres.recorder import BatchInsertRecorder
from src.adapters.sql.store_outage import is_outage
from src.application.errors import LeaseLostError
from src.entrypoints.bootstrap import Container
from src.entrypoints.settings import Settings
from tests.conftest import ADMIN_URL, make_settings

pytestmark = pytest.mark.postgres


def terminate(pid: int) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def raised(action: Any) -> BaseException:
    try:
        action()
    except Exception as error:  # noqa: BLE001 - the error is what is looked at
        return error
    raise AssertionError("it did not fail")


def wrapped_by_the_library(error: BaseException) -> BaseException:
    """As eventsourcing's PostgreSQL datastore hands a driver's error on."""
    try:
        raise LibraryOperationalError(str(error)) from error
    except LibraryOperationalError as wrapped:
        return wrapped


def test_a_store_refusing_or_dropping_connections_is_an_outage(postgres_url: str) -> None:
    nowhere = with_port(postgres_url, closed_port())
    refused = raised(lambda: psycopg.connect(nowhere, connect_timeout=2))
    engine = create_engine(nowhere.replace("postgresql://", "postgresql+psycopg://"))
    refused_through_sqlalchemy = raised(engine.connect)
    engine.dispose()
    with psycopg.connect(postgres_url) as connection:
        terminate(connection.info.backend_pid)
        killed = raised(lambda: connection.execute("SELECT 1"))
        closed = raised(lambda: connection.execute("SELECT 1"))
    assert isinstance(refused_through_sqlalchemy, SQLAlchemyError)
    for error in (refused, refused_through_sqlalchemy, killed, closed):
        assert is_outage(error), repr(error)
        assert is_outage(wrapped_by_the_library(error)), repr(error)


def test_errors_of_the_data_or_of_the_batch_are_no_outage(postgres_url: str) -> None:
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    statements = [
        "SELECT 1 / 0",
        "CREATE TEMP TABLE t (k int PRIMARY KEY); INSERT INTO t VALUES (1), (1)",
        "SET LOCAL statement_timeout = '10ms'; SELECT pg_sleep(1)",
        "SELECT no_such_column FROM pg_class",
    ]
    try:
        for statement in statements:
            with engine.begin() as connection:
                error = raised(lambda s=statement: connection.execute(text(s)))  # type: ignore[misc]
            assert not is_outage(error), statement
            assert not is_outage(wrapped_by_the_library(error)), statement
    finally:
        engine.dispose()
    assert not is_outage(LeaseLostError("worker:1", 3))


@pytest.fixture
def flywheel_settings(postgres_url: str) -> Settings:
    """The shared ``flywheel`` on PostgreSQL with one attempt per event: an outage counted
    as an attempt would leave the event dead."""
    return make_settings(postgres_url, event_max_attempts=1)


@pytest.mark.parametrize("run", [1, 2, 3])
def test_connections_killed_mid_save_count_no_attempt_and_split_no_batch(
    flywheel: Container,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    run: int,
) -> None:
    flywheel.ingestion().publish(
        [
            {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": f"u{n % 30}"}
            | {"payload": {"n": n, "run": run}}
            for n in range(120)
        ]
    )
    hook = BatchInsertRecorder._insert_events
    kills = {"left": 10}  # every attempt of one save (the library retries it 10 times)

    def killed_mid_save(
        recorder: BatchInsertRecorder, curs: Any, *args: Any, **kwargs: Any
    ) -> None:
        hook(recorder, curs, *args, **kwargs)  # the batch's writes are on their way...
        if kills["left"]:
            kills["left"] -= 1
            terminate(curs.connection.info.backend_pid)  # ...when the server cuts them off

    monkeypatch.setattr(BatchInsertRecorder, "_insert_events", killed_mid_save)
    processor = flywheel.processor()
    with caplog.at_level(logging.INFO):
        with pytest.raises(Exception) as cut:  # noqa: PT011 - whatever the driver raised
            asyncio.run(processor.drain())
        assert kills["left"] == 0
        assert flywheel.inbox().is_outage(cut.value), repr(cut.value)
        # The database answers again: the batch comes back whole, its attempt uncounted.
        summary = asyncio.run(processor.drain())
    assert (summary.processed, summary.failed, summary.dead) == (120, 0, 0)
    assert "saving it in parts" not in caplog.text
    with flywheel.engine().connect() as connection:
        attempts = connection.exec_driver_sql(
            "SELECT attempts, count(*) FROM phoenix_events GROUP BY attempts"
        ).all()
    assert [tuple(row) for row in attempts] == [(1, 120)]
