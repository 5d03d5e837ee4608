"""The HTTP API when PostgreSQL itself refuses events the domain let through: a clear
answer, nothing written, never a traceback or a duplicate count."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from bridge_support import hold_the_next_id
from litestar.testing import TestClient

from src.domain.events import MAX_PAYLOAD_DEPTH
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def client(postgres_url: str) -> Iterator[TestClient[Any]]:
    settings = make_settings(postgres_url, flywheel_api_token=TOKEN)
    close_flywheel(open_flywheel(settings, migrate=True))
    with TestClient(create_app(settings, run_worker=False)) as test_client:
        deadline = time.monotonic() + 30  # the server opens its store in the background
        while test_client.get("/api/events/queue-status", headers=AUTH).status_code != 200:
            assert time.monotonic() < deadline, "the store never opened"
            time.sleep(0.05)
        yield test_client


def count(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM phoenix_events").fetchone()
    return int(row[0]) if row else 0


def cv(**extra: Any) -> dict[str, Any]:
    return {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1", **extra}


def nested(depth: int) -> str:
    return '{"n": ' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(cv(timestamp="9999-12-31T12:00:00Z")),
        json.dumps(cv())[:-1] + f', "payload": {nested(MAX_PAYLOAD_DEPTH + 1)}}}',
    ],
    ids=["timestamp on the last day", "payload too deep"],
)
def test_an_event_the_store_refuses_is_a_400_and_writes_nothing(
    client: TestClient[Any], postgres_url: str, body: str
) -> None:
    response = client.post("/api/events", content=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error", "field"}
    assert count(postgres_url) == 0


def test_a_primary_key_collision_is_no_duplicate_and_the_next_attempt_lands(
    client: TestClient[Any], postgres_url: str
) -> None:
    with psycopg.connect(postgres_url) as connection:
        hold_the_next_id(connection)
    refused = client.post("/api/events", json=cv(), headers=AUTH)
    assert refused.status_code == 503, refused.text
    assert "Traceback" not in refused.text
    again = client.post("/api/events", json=cv(), headers=AUTH)
    assert (again.status_code, again.json()) == (202, {"accepted": 1, "duplicates": 0})
    assert count(postgres_url) == 2
