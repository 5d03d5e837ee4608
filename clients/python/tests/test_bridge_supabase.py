"""The bridge's Supabase REST transport, through supabase-py, against a double of Supabase's
gateway and PostgREST on the real PostgreSQL: the apikey checked, the JWT's role and claims
applied, grants and row-level security the database's own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bridge_support import closed_port, hold_the_next_id, outbox_hashes
from phoenix_bridge import BridgeConfig, EmitOutcome, PhoenixEventBridge
from postgrest_fake import (
    ANON_KEY,
    SERVICE_KEY,
    PostgrestFake,
    make_it_supabase,
    user_token,
)

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres
ALICE = "00000000-0000-4000-8000-00000000a11c"
BOB = "00000000-0000-4000-8000-000000000b0b"


def rest_config(url: str, key: str, outbox: Path, **more: Any) -> BridgeConfig:
    return BridgeConfig(
        transport="supabase",
        supabase_url=url,
        supabase_key=key,
        outbox_path=outbox,
        flush_interval_seconds=0.2,
        max_backoff_seconds=0.5,
        **more,
    )


def events(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT user_id, event_type, payload, event_hash, status FROM phoenix_events "
            "ORDER BY id"
        ).fetchall()


@pytest.fixture
def supabase_store(postgres_url: str) -> str:
    make_it_supabase(postgres_url)
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    return postgres_url


@pytest.fixture
def rest(supabase_store: str) -> Iterator[PostgrestFake]:
    fake = PostgrestFake(supabase_store)
    yield fake
    fake.close()


def test_the_anon_key_inserts_with_return_minimal_and_twins_are_delivered(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    config = rest_config(rest.url, ANON_KEY, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-letters", config) as bridge:
        assert bridge.emit("letter.generated", ALICE, {"letter_id": "L1"}) == EmitOutcome.DELIVERED
        assert bridge.emit("letter.generated", ALICE, {"letter_id": "L1"}) == EmitOutcome.DUPLICATE
        # The anon key may read nothing back: no nudges, and no error either.
        assert bridge.get_nudges(ALICE) == []
    inserts = [h for method, path, h in rest.requests if method == "POST" and "rpc/" not in path]
    assert all("return=minimal" in headers.get("prefer", "") for headers in inserts)
    [(user, kind, payload, event_hash, status)] = events(supabase_store)
    assert (user, kind, payload, status) == (
        ALICE,
        "letter.generated",
        {"letter_id": "L1"},
        "pending",
    )
    assert len(event_hash) == 64


def drain(url: str) -> None:
    container = open_flywheel(make_settings(url))
    try:
        asyncio.run(container.processor().drain())
    finally:
        close_flywheel(container)


def test_a_signed_in_user_emits_reads_and_marks_shown_with_their_token_per_call(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    alice = user_token(ALICE)
    config = rest_config(rest.url, ANON_KEY, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-letters", config) as bridge:
        outcome = bridge.emit("letter.generated", ALICE, {"letter_id": "L1"}, access_token=alice)
        assert outcome == EmitOutcome.DELIVERED
        # Before the worker: the store offers the nudge it will detect, under its id.
        [offer] = bridge.get_nudges(ALICE, access_token=alice)
        assert (offer["nudge_type"], offer["variant"]) == ("letters_to_cv", "chances")
        assert offer["message"] == "Optimisez vos chances avec Phoenix CV !"
        drain(supabase_store)
        assert bridge.get_nudges(ALICE) == []  # the anon key alone reads nobody's nudges
        [nudge] = bridge.get_nudges(ALICE, access_token=alice)
        assert nudge["nudge_id"] == offer["nudge_id"] == user_nudge(supabase_store, ALICE)
        assert nudge["target_app"] == "phoenix-cv"
        # The variant chosen at detection, with its message, as the API would answer.
        assert (nudge["variant"], nudge["message"]) in {
            ("chances", "Optimisez vos chances avec Phoenix CV !"),
            ("difference", "Un CV soigné fait la différence : créez le vôtre avec Phoenix CV !"),
        }
        assert bridge.mark_shown(nudge["nudge_id"]) is False  # the anon key may not
        assert bridge.mark_shown(nudge["nudge_id"], access_token=alice) is True
        assert bridge.get_nudges(ALICE, access_token=alice) == []  # the cooldown hides it
    # Every call carried the anon key as apikey; the user's calls her token as Bearer.
    assert {headers["apikey"] for _, _, headers in rest.requests} == {ANON_KEY}
    bearers = {headers["authorization"] for _, _, headers in rest.requests}
    assert bearers == {f"Bearer {ANON_KEY}", f"Bearer {alice}"}
    with psycopg.connect(supabase_store) as connection:
        sent = connection.execute("SELECT nudge_id, user_id FROM phoenix_nudges_sent").fetchall()
    assert sent == [(nudge["nudge_id"], ALICE)]


def test_one_bridge_serves_many_users_each_with_their_own_token(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    tokens = {ALICE: user_token(ALICE), BOB: user_token(BOB)}
    config = rest_config(rest.url, ANON_KEY, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-letters", config, background_flush=False) as bridge:
        for user, token in tokens.items():
            assert bridge.emit("letter.generated", user, access_token=token)
        drain(supabase_store)
        # Interleaved calls: each sees their own nudge only, whatever the call before.
        for user in (ALICE, BOB, ALICE, BOB):
            [nudge] = bridge.get_nudges(user, access_token=tokens[user])
            mine = user_nudge(supabase_store, user)
            assert nudge["nudge_id"] == mine
        # Alice's token reads nothing of Bob's, even when asking for him.
        assert bridge.get_nudges(BOB, access_token=tokens[ALICE]) == []
        bobs = user_nudge(supabase_store, BOB)
        assert bridge.mark_shown(bobs, access_token=tokens[ALICE]) is False


def user_nudge(url: str, user: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT nudge_id FROM phoenix_nudges WHERE user_id = %s", (user,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_a_users_token_as_the_key_is_refused_by_the_gateway(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = rest_config(rest.url, user_token(ALICE), tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-letters", config, background_flush=False) as bridge:
        assert bridge.emit("letter.generated", ALICE) == EmitOutcome.QUEUED
    assert "Invalid API key" in caplog.text
    assert events(supabase_store) == []


def test_an_expired_token_delivers_nothing(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expired = user_token(ALICE, expires_in=-60)
    config = rest_config(rest.url, ANON_KEY, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-letters", config, background_flush=False) as bridge:
        outcome = bridge.emit("letter.generated", ALICE, access_token=expired)
        assert outcome not in (EmitOutcome.DELIVERED, EmitOutcome.DUPLICATE)
        assert bridge.get_nudges(ALICE, access_token=expired) == []
    assert "JWT expired" in caplog.text
    assert events(supabase_store) == []


def test_a_user_emitting_for_someone_else_is_not_delivered(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    config = rest_config(rest.url, ANON_KEY, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-letters", config, background_flush=False) as bridge:
        outcome = bridge.emit("letter.generated", BOB, access_token=user_token(ALICE))
    assert outcome == EmitOutcome.REJECTED
    assert [row[0] for row in events(supabase_store)] == []


def test_only_a_twin_of_the_event_hash_counts_as_a_duplicate(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    """A collision on the primary key is not the event being there already."""
    with psycopg.connect(supabase_store) as connection:
        hold_the_next_id(connection)
    config = rest_config(rest.url, ANON_KEY, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-cv", config, background_flush=False) as bridge:
        outcome = bridge.emit("cv.uploaded", ALICE, {"cv_id": "c1"})
    assert outcome == EmitOutcome.REJECTED
    assert [row[0] for row in events(supabase_store)] == ["someone"]


def test_the_service_key_batches_an_outbox_with_twins_in_it(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "o.db"
    down = rest_config(f"http://127.0.0.1:{closed_port()}", SERVICE_KEY, outbox)
    with PhoenixEventBridge("phoenix-cv", down) as bridge:
        for n in range(25):
            assert bridge.emit("cv.uploaded", f"u{n}", {"n": n}) == EmitOutcome.QUEUED
    assert len(outbox_hashes(outbox)) == 25
    # Two of them reached the store another way meanwhile (an earlier flush, say).
    with PhoenixEventBridge(
        "phoenix-cv", rest_config(rest.url, SERVICE_KEY, tmp_path / "x.db"), background_flush=False
    ) as other:
        other.emit("cv.uploaded", "u3", {"n": 3})
        other.emit("cv.uploaded", "u7", {"n": 7})
    with PhoenixEventBridge(
        "phoenix-cv", rest_config(rest.url, SERVICE_KEY, outbox), background_flush=False
    ) as bridge:
        assert bridge.flush() == 0
    rows = events(supabase_store)
    assert len(rows) == len({row[3] for row in rows}) == 25
    assert sorted(row[2]["n"] for row in rows) == list(range(25))


def test_a_wrong_key_keeps_the_event_and_says_which_key_to_use(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = PostgrestFake(postgres_url)  # not migrated: no phoenix_events yet
    try:
        with PhoenixEventBridge(
            "phoenix-cv",
            rest_config(fake.url, "not-a-key", tmp_path / "a.db"),
            background_flush=False,
        ) as bridge:
            assert bridge.emit("cv.uploaded", "u1") == EmitOutcome.QUEUED
        assert (
            "the key lacks the right to insert events: use the anon or service key" in caplog.text
        )
    finally:
        fake.close()


def test_a_missing_table_keeps_the_event_and_says_to_migrate(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_it_supabase(postgres_url)
    fake = PostgrestFake(postgres_url)
    try:
        config = rest_config(fake.url, SERVICE_KEY, tmp_path / "o.db")
        with PhoenixEventBridge("phoenix-cv", config, background_flush=False) as bridge:
            assert bridge.emit("cv.uploaded", "u1") == EmitOutcome.QUEUED
            assert bridge.pending() == 1
            assert bridge.get_nudges("u1") == []
    finally:
        fake.close()
    assert "run `phoenix-flywheel migrate`" in caplog.text


def test_a_user_emitting_for_someone_else_is_rejected_and_never_blocks_their_own_events(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    alice = user_token(ALICE)
    outbox = tmp_path / "o.db"
    up = rest_config(rest.url, ANON_KEY, outbox)
    with PhoenixEventBridge("phoenix-cv", up, background_flush=False) as bridge:
        assert bridge.emit("cv.uploaded", ALICE, {"n": 1}, access_token=alice)
        refused = bridge.emit("cv.uploaded", BOB, {"n": 2}, access_token=alice)
        assert refused == EmitOutcome.REJECTED
        assert "row-level security" in refused.reason
        assert bridge.quarantined() == 1  # set aside, out of the way of what follows
        [kept] = bridge.rejected_events()
        assert kept["event"]["user_id"] == BOB
        assert "42501" in kept["reason"]
        outcome = bridge.emit("cv.uploaded", ALICE, {"n": 3}, access_token=alice)
        assert outcome == EmitOutcome.DELIVERED
        assert bridge.flush() == 0
    assert alice not in outbox.read_bytes().decode("utf-8", "replace")
    assert [(row[0], row[2]["n"]) for row in events(supabase_store)] == [(ALICE, 1), (ALICE, 3)]


def test_the_token_stays_out_of_the_outbox_and_queued_events_go_with_the_bridges_key(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    alice = user_token(ALICE)
    outbox = tmp_path / "o.db"
    down = rest_config(f"http://127.0.0.1:{closed_port()}", ANON_KEY, outbox)
    with PhoenixEventBridge("phoenix-cv", down, background_flush=False) as bridge:
        assert bridge.emit("cv.uploaded", ALICE, {"n": 1}, access_token=alice) == EmitOutcome.QUEUED
    assert alice not in outbox.read_bytes().decode("utf-8", "replace")
    up = rest_config(rest.url, ANON_KEY, outbox)
    with PhoenixEventBridge("phoenix-cv", up, background_flush=False) as bridge:
        assert bridge.flush() == 0
    assert [(row[0], row[2]["n"]) for row in events(supabase_store)] == [(ALICE, 1)]
    posts = [headers for method, _, headers in rest.requests if method == "POST"]
    assert [headers["authorization"] for headers in posts] == [f"Bearer {ANON_KEY}"]


def test_what_the_catalogue_refuses_is_rejected_with_the_apis_words(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    alice = user_token(ALICE)
    config = rest_config(rest.url, ANON_KEY, tmp_path / "o.db")
    with PhoenixEventBridge("phoenix-rise", config, background_flush=False) as bridge:
        for token in (None, alice):
            missing = bridge.emit("rise.journal_entry", ALICE, {}, access_token=token)
            assert missing == EmitOutcome.REJECTED
            assert "payload.stress_level: is required (an integer from 0 to 10)" in missing.reason
            burned = bridge.emit("rise.burned", ALICE, access_token=token)
            assert burned == EmitOutcome.REJECTED
            assert "event_type: unknown event type 'rise.burned'; known types:" in burned.reason
        misspelt = bridge.emit("rise.meditation", ALICE, payolad={"minutes": 10})
        assert misspelt == EmitOutcome.REJECTED
        assert misspelt.reason.startswith("payolad: unknown field")
        assert bridge.pending() == 0
    assert events(supabase_store) == []
