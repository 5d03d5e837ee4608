"""Phoenix Rise's journal entries carry a stress level from 0 to 10: anything else is
refused at ingest naming the field, over HTTP (400), the command line (exit 2) and, for a
row written straight into the store, by the worker (dead, its error kept)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from src.adapters.sql.tables import events
from src.entrypoints.bootstrap import build_container, close_flywheel, open_flywheel, prepare_store
from src.entrypoints.cli.commands import main
from src.entrypoints.http import create_app
from tests.conftest import as_stored_before_the_check, make_settings

JSON = {"content-type": "application/json"}
BAD = [
    ({}, "is required"),
    ({"stress_level": 11}, "out of range"),
    ({"stress_level": -1}, "out of range"),
    ({"stress_level": "7"}, "is not an integer"),
    ({"stress_level": 6.5}, "is not an integer"),
]


def journal(payload: dict[str, Any], user: str = "u1") -> dict[str, Any]:
    return {
        "event_type": "rise.journal_entry",
        "app_source": "phoenix-rise",
        "user_id": user,
        "payload": payload,
    }


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


@pytest.mark.parametrize(("payload", "words"), BAD)
def test_http_refuses_a_bad_stress_level_naming_the_field(
    client: TestClient[Any], payload: dict[str, Any], words: str
) -> None:
    response = client.post("/api/events", content=json.dumps(journal(payload)), headers=JSON)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "payload.stress_level"
    assert words in body["error"]
    assert client.get("/api/events/queue-status").json()["pending"] == 0


def test_http_accepts_the_bounds(client: TestClient[Any]) -> None:
    batch = {"events": [journal({"stress_level": 0}), journal({"stress_level": 10}, "u2")]}
    response = client.post("/api/events", content=json.dumps(batch), headers=JSON)
    assert response.status_code == 202
    assert response.json()["accepted"] == 2


@pytest.mark.parametrize(("payload", "words"), BAD[:2])
def test_the_command_line_exits_2_naming_the_field(
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    payload: dict[str, Any],
    words: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", store_url)
    assert main(["migrate"]) == 0
    capsys.readouterr()
    args = ["emit", "rise.journal_entry", "--app", "phoenix-rise", "--user", "u1"]
    assert main([*args, "--payload", json.dumps(payload)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: payload.stress_level: ")
    assert words in err
    assert main(["status"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 0


def test_a_row_stored_before_with_a_bad_stress_level_dies_with_the_field_named(
    store_url: str,
) -> None:
    """Rows already stored are not checked again by the store: the worker refuses them."""
    container = build_container(make_settings(store_url))
    prepare_store(container, migrate=True)
    try:
        with container.engine().begin() as connection:
            as_stored_before_the_check(connection)
            connection.execute(
                events.insert().values(
                    event_type="rise.journal_entry",
                    app_source="phoenix-rise",
                    user_id="u1",
                    payload={"stress_level": 42},
                )
            )
        summary = asyncio.run(container.processor().drain())
        assert summary.dead == 1
        with container.engine().connect() as connection:
            (error,) = connection.execute(select(events.c.ai_processing_error)).one()
        assert "payload.stress_level" in error
    finally:
        close_flywheel(container)
