"""The bridge's outbox under refusals and disk trouble, on a real PostgreSQL.

A row the store refuses for good is set aside and never blocks the rows behind it; a
value no store can hold is refused at ``emit`` the same way on every transport; the
outbox is a fallback, not a gate (unwritable folder, read-only file, full disk); and a
flusher that backed off drains as soon as the store answers the app again.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from bridge_support import (
    TcpProxy,
    closed_port,
    outbox_attempts,
    outbox_hashes,
    sql_config,
    stored,
    unwritable,
    wait_for,
    with_port,
)
from phoenix_bridge import BridgeConfig, EmitOutcome, PhoenixEventBridge

LETTERS = "phoenix-letters"


def users(url: str) -> list[str]:
    return [str(row[1]) for row in stored(url)]


def down(store: str, outbox: Path, **more: Any) -> BridgeConfig:
    return sql_config(with_port(store, closed_port()), outbox, **more)


# -- permanent refusals -----------------------------------------------------------------


@pytest.mark.postgres
def test_a_row_refused_for_good_is_set_aside_once_and_the_rows_behind_it_flow(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(store) as connection:  # a constraint of the store refuses one user
        connection.execute(
            "ALTER TABLE phoenix_events ADD CONSTRAINT no_poison CHECK (user_id <> 'poison')"
        )
    outbox = tmp_path / "o.db"
    with PhoenixEventBridge(LETTERS, down(store, outbox), background_flush=False) as bridge:
        for user in ("u1", "poison", "u2"):
            assert bridge.emit("letter.generated", user) == EmitOutcome.QUEUED
    config = sql_config(store, outbox)
    with PhoenixEventBridge(LETTERS, config, background_flush=False) as bridge:
        assert bridge.flush() == 0
        assert bridge.flush() == 0  # set aside: never sent again
        assert bridge.pending() == 0
        assert bridge.quarantined() == 1
        [kept] = bridge.rejected_events()
        assert kept["event"]["user_id"] == "poison"
        assert "no_poison" in kept["reason"]

        outcome = bridge.emit("letter.generated", "poison", {"n": 2})
        assert outcome == EmitOutcome.REJECTED
        assert not outcome
        assert "no_poison" in outcome.reason
        assert bridge.quarantined() == 2
        assert bridge.emit("letter.generated", "u3") == EmitOutcome.DELIVERED
    assert users(store) == ["u1", "u2", "u3"]
    assert caplog.text.count("set aside in the outbox") == 1  # logged once


@pytest.mark.postgres
def test_a_refusal_by_the_grants_is_rejected_and_can_be_sent_again_once_granted(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    role = f"writer_{tmp_path.name[-8:].replace('-', '_')}".lower()
    with psycopg.connect(store, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")
    try:
        parts = urlsplit(store)
        url = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
        config = sql_config(url, tmp_path / "o.db")
        with PhoenixEventBridge("phoenix-cv", config, background_flush=False) as bridge:
            outcome = bridge.emit("cv.uploaded", "u1")
            assert outcome == EmitOutcome.REJECTED
            assert "the key lacks the right to insert events" in outcome.reason
            assert bridge.quarantined() == 1
            with psycopg.connect(store, autocommit=True) as connection:
                connection.execute(f"GRANT INSERT, SELECT ON phoenix_events TO {role}")
                connection.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
                connection.execute(
                    f"CREATE POLICY {role}_inserts ON phoenix_events TO {role} "
                    "USING (true) WITH CHECK (true)"
                )
            assert bridge.requeue_rejected() == 1
            assert bridge.flush() == 0
            assert bridge.quarantined() == 0
        assert users(store) == ["u1"]
        assert "permission denied for table phoenix_events" in caplog.text
    finally:
        with psycopg.connect(store, autocommit=True) as connection:
            connection.execute(f"REASSIGN OWNED BY {role} TO postgres")
            connection.execute(f"DROP OWNED BY {role}")
            connection.execute(f"DROP ROLE {role}")


def _transports(tmp_path: Path) -> dict[str, BridgeConfig]:
    nowhere = f"127.0.0.1:{closed_port()}"
    common: dict[str, Any] = {"outbox_path": tmp_path / "o.db"}
    return {
        "sql": BridgeConfig(
            transport="sql", database_url=f"postgresql://postgres@{nowhere}/x", **common
        ),
        "supabase": BridgeConfig(
            transport="supabase", supabase_url=f"http://{nowhere}", supabase_key="k", **common
        ),
        "http": BridgeConfig(transport="http", api_url=f"http://{nowhere}", **common),
    }


def _nested(depth: int) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for _ in range(depth):
        payload = {"a": payload}
    return payload


@pytest.mark.parametrize("transport", ["sql", "supabase", "http"])
@pytest.mark.parametrize(
    ("user_id", "payload", "named"),
    [
        ("u1", {"score": math.nan}, "payload.score"),
        ("u1", {"scores": [1.0, math.inf]}, "payload.scores[1]"),
        ("u1", {"score": -math.inf}, "payload.score"),
        ("u1", {"text": "a\x00b"}, "NUL"),
        ("u\x00", {}, "user_id"),
        ("u1", {"text": "\ud800"}, "surrogate"),
        ("u1", _nested(5000), "nested"),
        ("u1", _nested(64), "more than 64 levels"),  # the payload and 64 objects in it
        ("team/alice", {}, "user_id must not contain '/'"),
    ],
)
def test_a_value_no_store_can_hold_is_rejected_at_emit_on_every_transport(
    transport: str, user_id: str, payload: dict[str, Any], named: str, tmp_path: Path
) -> None:
    config = _transports(tmp_path)[transport]
    with PhoenixEventBridge(LETTERS, config, background_flush=False) as bridge:
        outcome = bridge.emit("letter.generated", user_id, payload)
        # The stores are unreachable: had it gone past emit, it would be queued.
        assert outcome == EmitOutcome.REJECTED
        assert not outcome
        assert named in outcome.reason
        assert bridge.pending() == 0


# -- the outbox is a fallback, not a gate -----------------------------------------------


@pytest.mark.postgres
def test_an_outbox_folder_that_cannot_exist_neither_stops_the_bridge_nor_delivery(
    store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    outbox = a_file / "outbox.db"  # its "folder" is a regular file: fails even for root
    with PhoenixEventBridge(LETTERS, sql_config(store, outbox)) as bridge:
        assert bridge.outbox_problem()
        assert bridge.emit("letter.generated", "u1") == EmitOutcome.DELIVERED
        assert bridge.emit("letter.generated", "u2") == EmitOutcome.DELIVERED
        assert bridge.pending() == 0
        assert bridge.flush() == 0
    with PhoenixEventBridge(LETTERS, down(store, outbox), background_flush=False) as bridge:
        lost = bridge.emit("letter.generated", "u3")
        assert lost == EmitOutcome.DROPPED
        assert not lost
        assert "outbox" in lost.reason
    assert users(store) == ["u1", "u2"]
    assert caplog.text.count("cannot keep events") == 2  # once per bridge, not per event


@pytest.mark.postgres
def test_a_read_only_outbox_folder_does_not_stop_direct_delivery(
    store: str, tmp_path: Path
) -> None:
    folder = tmp_path / "box"
    folder.mkdir()
    outbox = folder / "o.db"
    with PhoenixEventBridge(LETTERS, down(store, outbox), background_flush=False) as bridge:
        assert bridge.emit("letter.generated", "old") == EmitOutcome.QUEUED
    with unwritable(folder):
        with PhoenixEventBridge(LETTERS, sql_config(store, outbox)) as bridge:
            assert bridge.outbox_problem()
            assert bridge.emit("letter.generated", "u1") == EmitOutcome.DELIVERED
        assert users(store) == ["u1"]
    # Writable again: the event that waited is delivered after all.
    with PhoenixEventBridge(LETTERS, sql_config(store, outbox), background_flush=False) as bridge:
        assert bridge.flush() == 0
        assert bridge.outbox_problem() is None
    assert users(store) == ["u1", "old"]


@pytest.mark.postgres
def test_a_read_only_outbox_file_is_flushed_without_raising_and_emits_go_direct(
    store: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "o.db"
    with PhoenixEventBridge(LETTERS, down(store, outbox), background_flush=False) as bridge:
        for n in range(3):
            assert bridge.emit("letter.generated", f"old{n}") == EmitOutcome.QUEUED
    with (
        unwritable(outbox),
        PhoenixEventBridge(LETTERS, sql_config(store, outbox), background_flush=False) as bridge,
    ):
        # Events wait and none can be added: straight out rather than lost.
        assert bridge.emit("letter.generated", "new") == EmitOutcome.DELIVERED
        # Delivered, and not deleted from the read-only file: no exception, and crossed
        # off all the same, so never sent again by this bridge.
        assert bridge.flush() == 0
        assert bridge.pending() == 0
        assert bridge.outbox_problem()
        assert len(outbox_hashes(outbox)) == 3
    assert users(store) == ["new", "old0", "old1", "old2"]
    # A later bridge on the writable file sends them once more (twins, stored once).
    with PhoenixEventBridge(LETTERS, sql_config(store, outbox), background_flush=False) as bridge:
        assert bridge.flush() == 0
    assert outbox_hashes(outbox) == []
    assert len(stored(store)) == 4


@pytest.mark.postgres
def test_a_full_outbox_drops_only_what_the_store_cannot_take_and_says_so_once(
    store: str, proxy: TcpProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Full by the outbox's own size cap: a full disk answers the same way
    # (clients/python/tests/test_bridge_small_disk.py fills a real one).
    outbox = tmp_path / "o.db"
    config = sql_config(with_port(store, proxy.port), outbox, outbox_max_bytes=192 * 1024)
    big = {"text": "x" * 3000}
    with PhoenixEventBridge(LETTERS, config, background_flush=False) as bridge:
        proxy.cut()
        outcomes = [bridge.emit("letter.generated", f"u{n}", big) for n in range(60)]
        queued = outcomes.count(EmitOutcome.QUEUED)
        assert 0 < queued < 60
        assert outcomes[queued:] == [EmitOutcome.DROPPED] * (60 - queued)
        assert "full" in outcomes[-1].reason
        assert "full" in str(bridge.outbox_problem())
        proxy.restore()
        # The store is back and the outbox still full: new events go straight out.
        assert bridge.emit("letter.generated", "fresh", big) == EmitOutcome.DELIVERED
        assert bridge.flush() == 0
        # The delivered rows left: their room takes the next outage's events.
        proxy.cut()
        assert bridge.emit("letter.generated", "later", big) == EmitOutcome.QUEUED
    assert caplog.text.count("cannot keep events") == 1
    assert len(stored(store)) == queued + 1


# -- recovery ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_with_default_settings_the_outbox_drains_as_soon_as_the_store_answers_again(
    store: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    outbox = tmp_path / "o.db"
    config = BridgeConfig(  # the defaults, but for where the store and the outbox are
        transport="sql", database_url=with_port(store, proxy.port), outbox_path=outbox
    )
    with PhoenixEventBridge(LETTERS, config) as bridge:
        proxy.cut()
        for n in range(20):
            assert bridge.emit("letter.generated", f"u{n}") == EmitOutcome.QUEUED
        wait_for(lambda: outbox_attempts(outbox) > 0, what="the flusher to fail once")
        proxy.restore()
        started = time.monotonic()
        bridge.get_nudges("u1")  # the app renders a page: the store answers
        wait_for(lambda: bridge.pending() == 0, timeout=60, what="the outbox to drain")
        recovered = time.monotonic() - started
    # A recovery bound, not a speed figure: the flusher had backed off for 10 s and more.
    assert recovered < 5, recovered
    assert outbox_hashes(outbox) == []
    assert len(stored(store)) == 20


def flusher_cpu_seconds(app: str) -> float:
    """The CPU time the bridge's flush thread has used so far."""
    (thread,) = [t for t in threading.enumerate() if t.name == f"phoenix-outbox-{app}"]
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def test_a_flusher_backing_off_waits_without_spinning_when_events_are_queued(
    tmp_path: Path,
) -> None:
    # A queued event wakes the flusher, which must still wait out its backoff: asleep,
    # not polling its wake-up flag (the app's own thread then waited for the
    # interpreter's lock at every call, and a burst of emits in an outage crawled).
    config = down("postgresql://postgres@127.0.0.1/x", tmp_path / "o.db", max_backoff_seconds=30)
    with PhoenixEventBridge(LETTERS, config) as bridge:
        assert bridge.emit("letter.generated", "u0") == EmitOutcome.QUEUED
        wait_for(lambda: outbox_attempts(tmp_path / "o.db") >= 2, what="two failed rounds")
        assert bridge.emit("letter.generated", "u1") == EmitOutcome.QUEUED
        before = flusher_cpu_seconds(LETTERS)
        time.sleep(1.0)  # the flusher's backoff is at least 1 s by now
        used = flusher_cpu_seconds(LETTERS) - before
    assert used < 0.2, f"the flusher used {used:.2f} s of CPU while waiting"
