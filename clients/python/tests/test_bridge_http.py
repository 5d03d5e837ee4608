"""The bridge's HTTP transport against a real server process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bridge_support import closed_port, hold_the_next_id
from phoenix_bridge import BridgeConfig, EmitOutcome, PhoenixEventBridge

from tests.e2e.conftest import running_server

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]
TOKEN = "s3cret-token"


def http_config(url: str, outbox: Path, token: str | None = TOKEN, **more: Any) -> BridgeConfig:
    return BridgeConfig(
        transport="http",
        api_url=url,
        api_token=token,
        outbox_path=outbox,
        flush_interval_seconds=0.2,
        max_backoff_seconds=0.5,
        **more,
    )


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_events_nudges_and_display_through_the_api(store: str, tmp_path: Path) -> None:
    with running_server(store, FLYWHEEL_API_TOKEN=TOKEN) as server:
        url = str(server.client.base_url)
        with PhoenixEventBridge("phoenix-cv", http_config(url, tmp_path / "o.db")) as bridge:
            assert bridge.emit("cv.uploaded", "u1", {"cv_id": "c1"}) == EmitOutcome.DELIVERED
            assert bridge.emit("cv.uploaded", "u1", {"cv_id": "c1"}) == EmitOutcome.DUPLICATE
            unknown = bridge.emit("cv.teleported", "u1")
            assert unknown == EmitOutcome.REJECTED
            assert "cv.teleported" in unknown.reason
            assert bridge.pending() == 0
            assert bridge.quarantined() == 1
            wait_for(lambda: bridge.get_nudges("u1") != [])
            [nudge] = bridge.get_nudges("u1")
            assert nudge["nudge_type"] == "cv_to_letters"
            assert nudge["target_app"] == "phoenix-letters"
            assert bridge.mark_shown(nudge["nudge_id"]) is True
            assert bridge.get_nudges("u1") == []  # shown: the cooldown hides it
            assert bridge.get_nudges("u1", app="phoenix-letters") == []
    with psycopg.connect(store) as connection:
        (count,) = connection.execute("SELECT count(*) FROM phoenix_events").fetchone() or (0,)
    assert count == 1


def test_a_wrong_token_keeps_events_and_says_which_key(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_server(store, FLYWHEEL_API_TOKEN=TOKEN) as server:
        url = str(server.client.base_url)
        config = http_config(url, tmp_path / "o.db", token="wrong")
        with PhoenixEventBridge("phoenix-cv", config, background_flush=False) as bridge:
            assert bridge.emit("cv.uploaded", "u1") == EmitOutcome.QUEUED
            assert bridge.pending() == 1
    assert "the key lacks the right to insert events" in caplog.text


def test_a_server_down_then_up_gets_the_outbox_exactly_once(store: str, tmp_path: Path) -> None:
    outbox = tmp_path / "o.db"
    down = http_config(f"http://127.0.0.1:{closed_port()}", outbox)
    with PhoenixEventBridge("phoenix-letters", down) as bridge:
        for n in range(30):
            assert bridge.emit("letter.generated", "u1", {"n": n}) == EmitOutcome.QUEUED
            if n == 10:  # an event the API refuses for good, in the middle of the others
                assert bridge.emit("letter.teleported", "u1") == EmitOutcome.QUEUED
        assert bridge.get_nudges("u1") == []
    with running_server(store, FLYWHEEL_API_TOKEN=TOKEN) as server:
        up = http_config(str(server.client.base_url), outbox)
        with PhoenixEventBridge("phoenix-letters", up) as bridge:
            wait_for(lambda: bridge.pending() == 0)
            assert bridge.flush() == 0
            assert bridge.quarantined() == 1
    with psycopg.connect(store) as connection:
        order = [
            row[0]
            for row in connection.execute(
                "SELECT (payload->>'n')::int FROM phoenix_events ORDER BY id"
            )
        ]
    assert order == list(range(30))


def test_only_a_twin_of_the_event_hash_counts_as_a_duplicate(store: str, tmp_path: Path) -> None:
    """A collision on the primary key is not the event being there already."""
    with psycopg.connect(store) as connection:
        hold_the_next_id(connection)
    with running_server(store, FLYWHEEL_API_TOKEN=TOKEN) as server:
        config = http_config(str(server.client.base_url), tmp_path / "o.db")
        with PhoenixEventBridge("phoenix-cv", config, background_flush=False) as bridge:
            outcome = bridge.emit("cv.uploaded", "u1", {"cv_id": "c1"})
    assert outcome not in (EmitOutcome.DELIVERED, EmitOutcome.DUPLICATE)
    with psycopg.connect(store) as connection:
        users = [row[0] for row in connection.execute("SELECT user_id FROM phoenix_events")]
    assert users == ["someone"]
