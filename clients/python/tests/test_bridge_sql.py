"""The bridge's direct-SQL transport and its outbox, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from bridge_support import (
    TcpProxy,
    closed_port,
    hold_the_next_id,
    outbox_hashes,
    sql_config,
    stored,
    wait_for,
    with_port,
)
from phoenix_bridge import EmitOutcome, PhoenixEventBridge

from src.domain.user_journey import nudge_id
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


def test_events_land_once_with_the_canonical_hash(store: str, tmp_path: Path) -> None:
    with PhoenixEventBridge("phoenix-letters", sql_config(store, tmp_path / "o.db")) as bridge:
        first = bridge.emit("letter.generated", "u1", {"letter_id": "L1"})
        again = bridge.emit("letter.generated", "u1", {"letter_id": "L1"})
        other = bridge.emit("letter.generated", "u1", {"letter_id": "L1"}, idempotency_key="k2")
    assert (first, again, other) == (
        EmitOutcome.DELIVERED,
        EmitOutcome.DUPLICATE,
        EmitOutcome.DELIVERED,
    )
    rows = stored(store)
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("letter.generated", "u1", {"letter_id": "L1"}, None),
        ("letter.generated", "u1", {"letter_id": "L1"}, "k2"),
    ]
    from src.domain.event_hash import compute_event_hash

    expected = compute_event_hash(
        "letter.generated", "phoenix-letters", "u1", {"letter_id": "L1"}, None
    )
    assert rows[0][3] == expected


def test_the_worker_processes_bridge_events_and_nudges_come_back(
    store: str, tmp_path: Path
) -> None:
    config = sql_config(store, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-letters", config) as bridge:
        assert bridge.get_nudges("u1") == []  # nothing yet, and no error
        bridge.emit("letter.generated", "u1", {"letter_id": "L1"})
        # No worker ran: the store offers the nudge the worker will detect, under its id,
        # with the experiment's first wording.
        [offer] = bridge.get_nudges("u1")
        assert offer == {
            "nudge_id": nudge_id("u1", "letters_to_cv"),
            "nudge_type": "letters_to_cv",
            "target_app": "phoenix-cv",
            "message": "Optimisez vos chances avec Phoenix CV !",
            "variant": "chances",
        }
        [english] = bridge.get_nudges("u1", lang="en")
        assert english["message"] == "Boost your chances with Phoenix CV!"
        assert bridge.mark_shown(offer["nudge_id"]) is True
        assert bridge.get_nudges("u1") == []  # displayed: the cooldown hides it
        container = open_flywheel(make_settings(store))
        try:
            asyncio.run(container.processor().drain())
        finally:
            close_flywheel(container)
        # The worker's nudge is the one displayed: still hidden, with the wording seen.
        assert bridge.get_nudges("u1") == []
        assert bridge.mark_shown(offer["nudge_id"]) is True  # within the cooldown: no write
        assert bridge.mark_shown("no-such-nudge") is False
    with psycopg.connect(store) as connection:
        sent = connection.execute("SELECT nudge_id, app FROM phoenix_nudges_sent").fetchall()
        detected = connection.execute("SELECT nudge_id, variant FROM phoenix_nudges").fetchall()
    assert sent == [(offer["nudge_id"], "phoenix-letters")]
    assert detected == [(offer["nudge_id"], "chances")]


def test_an_unreachable_store_queues_quickly_and_a_later_bridge_delivers_in_order(
    store: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.db"
    dead = sql_config(with_port(store, closed_port()), outbox)
    with PhoenixEventBridge("phoenix-cv", dead) as bridge:
        started = time.monotonic()
        outcomes = [bridge.emit("cv.uploaded", f"u{n}", {"n": n}) for n in range(20)]
        elapsed = time.monotonic() - started
        assert bridge.get_nudges("u1") == []
        assert bridge.mark_shown("n1") is False
    assert set(outcomes) == {EmitOutcome.QUEUED}
    assert elapsed < 10, elapsed  # bounded: the first emit fails fast, the rest queue
    assert len(outbox_hashes(outbox)) == 20
    assert stored(store) == []

    # The app restarts with the store back: the new bridge flushes at start.
    with PhoenixEventBridge("phoenix-cv", sql_config(store, outbox)) as bridge:
        wait_for(lambda: bridge.pending() == 0, what="the outbox to drain")
        bridge.emit("cv.generated", "u0")
    rows = stored(store)
    assert [r[1] for r in rows[:20]] == [f"u{n}" for n in range(20)]
    assert rows[20][0] == "cv.generated"
    assert len({r[3] for r in rows}) == 21
    assert outbox_hashes(outbox) == []


def test_a_burst_during_a_cut_arrives_exactly_once(
    store: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.db"
    config = sql_config(with_port(store, proxy.port), outbox, batch_size=50)
    with PhoenixEventBridge("phoenix-letters", config) as bridge:
        for n in range(10):
            assert bridge.emit("letter.generated", "before", {"n": n}) == EmitOutcome.DELIVERED
        proxy.cut()
        started = time.monotonic()
        for n in range(1000):
            assert bridge.emit("letter.generated", f"user-{n % 7}", {"n": n})
        burst = time.monotonic() - started
        assert bridge.pending() == 1000
        proxy.restore()
        # A second cut in the middle of the flush: the batch in flight is retried.
        time.sleep(0.3)
        proxy.cut()
        time.sleep(0.5)
        proxy.restore()
        wait_for(lambda: bridge.pending() == 0, timeout=60, what="the outbox to drain")
    assert burst < 30, burst
    with psycopg.connect(store) as connection:
        total, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT event_hash) FROM phoenix_events"
        ).fetchone() or (0, 0)
        order = [
            row[0]
            for row in connection.execute(
                "SELECT (payload->>'n')::int FROM phoenix_events "
                "WHERE user_id <> 'before' ORDER BY id"
            )
        ]
    assert (total, distinct) == (1010, 1010)
    assert order == list(range(1000))  # delivered in the order emitted


def test_a_missing_table_keeps_events_and_says_to_migrate(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = sql_config(postgres_url, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-cv", config, background_flush=False) as bridge:
        assert bridge.emit("cv.uploaded", "u1") == EmitOutcome.QUEUED
        assert bridge.get_nudges("u1") == []
        assert bridge.pending() == 1
    assert "run `phoenix-flywheel migrate`" in caplog.text
    assert "supabase_phoenix_events_clean.sql" in caplog.text


def test_a_role_without_insert_right_is_rejected_and_told_which_key_to_use(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    role = f"reader_{tmp_path.name[-8:].replace('-', '_')}".lower()
    with psycopg.connect(store, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")
    try:
        parts = urlsplit(store)
        url = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
        with PhoenixEventBridge(
            "phoenix-cv", sql_config(url, tmp_path / "o.db"), background_flush=False
        ) as bridge:
            # Refused for good, not queued: it would block every event behind it.
            assert bridge.emit("cv.uploaded", "u1") == EmitOutcome.REJECTED
            assert bridge.pending() == 0
            assert bridge.quarantined() == 1
        assert "the key lacks the right to insert events" in caplog.text
    finally:
        with psycopg.connect(store, autocommit=True) as connection:
            connection.execute(f"REASSIGN OWNED BY {role} TO postgres")
            connection.execute(f"DROP OWNED BY {role}")
            connection.execute(f"DROP ROLE {role}")


def test_only_a_twin_of_the_event_hash_counts_as_a_duplicate(store: str, tmp_path: Path) -> None:
    """A collision on the primary key is not the event being there already."""
    with psycopg.connect(store) as connection:
        hold_the_next_id(connection)
    config = sql_config(store, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-cv", config, background_flush=False) as bridge:
        outcome = bridge.emit("cv.uploaded", "u1", {"cv_id": "c1"})
    assert outcome == EmitOutcome.REJECTED
    assert [row[1] for row in stored(store)] == ["someone"]


# What the store's catalogue refuses, the SQL transport answers as refused for good, with
# the words the HTTP API gives; a misspelt field is refused by the bridge itself.
REFUSED = [
    (
        "phoenix-cv",
        "cv.burned",
        {},
        {},
        "event_type: unknown event type 'cv.burned'; known types: cv.generated, cv.uploaded, "
        "job_offer.analyzed, letter.generated, rise.coaching_session, rise.journal_entry, "
        "rise.meditation",
    ),
    (
        "phoenix-rise",
        "rise.journal_entry",
        {},
        {},
        "payload.stress_level: is required (an integer from 0 to 10)",
    ),
    (
        "phoenix-letters",
        "cv.uploaded",
        {},
        {},
        "app_source: event type 'cv.uploaded' is published by 'phoenix-cv', not 'phoenix-letters'",
    ),
    ("phoenix-letters", "letter.generated", {}, {"payolad": {"id": 1}}, "payolad: unknown field"),
    ("phoenix-letters", "letter.generated", {}, {"idempotency_kye": "k"}, "idempotency_kye"),
]


@pytest.mark.parametrize(("app", "event_type", "payload", "misspelt", "reason"), REFUSED)
def test_what_the_catalogue_refuses_is_rejected_naming_the_field(
    store: str,
    tmp_path: Path,
    app: str,
    event_type: str,
    payload: dict[str, Any],
    misspelt: dict[str, Any],
    reason: str,
) -> None:
    config = sql_config(store, tmp_path / "o.db")
    with PhoenixEventBridge(app, config, background_flush=False) as bridge:
        outcome = bridge.emit(event_type, "u1", payload, **misspelt)
        assert outcome == EmitOutcome.REJECTED
        assert reason in outcome.reason
        assert bridge.pending() == 0  # refused for good: not queued behind the others
    assert stored(store) == []
