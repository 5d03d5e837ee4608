"""The timestamps ingest accepts are exactly those the store keeps: one range, in Python
(``FIRST_READABLE``, ``LAST_READABLE``), which the SQL file's insert check repeats."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from src.adapters.sql.database import postgres_schema_sql
from src.domain.events import FIRST_READABLE, LAST_READABLE
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from tests.conftest import make_settings

JUST_INSIDE = (FIRST_READABLE, LAST_READABLE - timedelta(microseconds=1))
JUST_OUTSIDE = (FIRST_READABLE - timedelta(microseconds=1), LAST_READABLE)


def sql_bounds() -> tuple[datetime, datetime]:
    check = re.search(
        r"NEW\.\"timestamp\" >= '([^']+)'\s+AND NEW\.\"timestamp\" < '([^']+)'",
        postgres_schema_sql(),
    )
    assert check is not None, "the insert check on timestamps is gone from the SQL file"
    first, last = (datetime.fromisoformat(text) for text in check.groups())
    return first, last


def test_the_sql_check_and_the_python_bounds_are_one_range() -> None:
    assert sql_bounds() == (FIRST_READABLE, LAST_READABLE)


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient[Any]]:
    settings = make_settings(store_url)
    close_flywheel(open_flywheel(settings, migrate=True))
    with TestClient(create_app(settings, run_worker=False)) as test_client:
        deadline = time.monotonic() + 30
        while test_client.get("/api/events/queue-status").status_code != 200:
            assert time.monotonic() < deadline, "the store never opened"
            time.sleep(0.05)
        yield test_client


def letter(timestamp: str, key: str) -> dict[str, Any]:
    return {
        "event_type": "letter.generated",
        "app_source": "phoenix-letters",
        "user_id": "u1",
        "timestamp": timestamp,
        "idempotency_key": key,
    }


@pytest.mark.parametrize(
    "timestamp",
    ["9999-12-31T23:59:59Z", "9999-12-31T00:00:00Z", "0001-01-01T23:59:59Z"]
    + [moment.isoformat() for moment in JUST_OUTSIDE],
)
def test_a_timestamp_the_store_refuses_is_a_400_naming_timestamp(
    client: TestClient[Any], timestamp: str
) -> None:
    response = client.post("/api/events", json=letter(timestamp, "k"))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "timestamp"
    assert "outside what the store keeps" in response.json()["error"]
    batch = client.post("/api/events", json={"events": [letter(timestamp, "k")]})
    assert batch.json()["field"] == "events.0.timestamp"
    assert client.get("/api/events/queue-status").json()["pending"] == 0


def test_the_last_and_first_instants_the_store_keeps_are_accepted_and_processed(
    client: TestClient[Any],
) -> None:
    for index, moment in enumerate(JUST_INSIDE):
        response = client.post("/api/events", json=letter(moment.isoformat(), f"k{index}"))
        assert response.status_code == 202, response.text
    drained = client.post("/api/events/process-queue").json()
    assert (drained["processed"], drained["dead"]) == (2, 0)


@pytest.mark.postgres
def test_postgresql_itself_draws_the_line_at_the_same_instants(postgres_url: str) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    insert = (
        'INSERT INTO phoenix_events (event_type, app_source, user_id, "timestamp") '
        "VALUES ('letter.generated', 'phoenix-letters', 'u1', %s)"
    )
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        for moment in JUST_INSIDE:
            connection.execute(insert, (moment,))
        for moment in JUST_OUTSIDE:
            with pytest.raises(psycopg.errors.CheckViolation):
                connection.execute(insert, (moment,))
