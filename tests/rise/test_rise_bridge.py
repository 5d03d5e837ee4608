"""Phoenix Rise through the bridge: a journal entry without a valid stress level is
refused for good, with the field named, over HTTP and over SQL alike (the store's own
check of the catalogue), and never blocks the valid ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from phoenix_bridge import BridgeConfig, EmitOutcome, PhoenixEventBridge

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.e2e.conftest import running_server

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


@pytest.fixture
def store(postgres_url: str) -> str:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    return postgres_url


def test_over_http_a_bad_stress_level_is_rejected_naming_the_field(
    store: str, tmp_path: Path
) -> None:
    with running_server(store) as server:
        config = BridgeConfig(
            transport="http", api_url=str(server.client.base_url), outbox_path=tmp_path / "o.db"
        )
        with PhoenixEventBridge("phoenix-rise", config) as bridge:
            bad = bridge.emit("rise.journal_entry", "u1", {"stress_level": 12})
            assert bad == EmitOutcome.REJECTED
            assert "payload.stress_level" in bad.reason
            good = bridge.emit("rise.journal_entry", "u1", {"stress_level": 8})
            assert good == EmitOutcome.DELIVERED
            assert bridge.pending() == 0


def test_over_sql_a_bad_stress_level_is_rejected_naming_the_field(
    store: str, tmp_path: Path
) -> None:
    config = BridgeConfig(transport="sql", database_url=store, outbox_path=tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-rise", config) as bridge:
        bad = bridge.emit("rise.journal_entry", "u1", {})
        assert bad == EmitOutcome.REJECTED
        assert "payload.stress_level: is required" in bad.reason
        assert bridge.emit("rise.meditation", "u1") == EmitOutcome.DELIVERED
    container = open_flywheel(make_settings(store))
    try:
        summary = asyncio.run(container.processor().drain())
    finally:
        close_flywheel(container)
    assert (summary.processed, summary.dead) == (1, 0)
    with psycopg.connect(store) as connection:
        rows = connection.execute("SELECT event_type, status FROM phoenix_events").fetchall()
    assert rows == [("rise.meditation", "processed")]
