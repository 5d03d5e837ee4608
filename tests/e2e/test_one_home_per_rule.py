"""Every path an app may read its nudges through gives the same answer: the HTTP API of a
real server process, the bridge's SQL transport, and its Supabase transport behind the
gateway double (plain supabase-py, a signed-in user's token), on one Supabase-like
PostgreSQL. Several users, displays made through each path, the daily cap, English and
French, the degraded mode before the worker's first run, time passing by back-dated rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from phoenix_bridge import BridgeConfig, PhoenixEventBridge
from postgrest_fake import (
    ANON_KEY,
    SupabaseGateway,
    make_it_supabase,
    user_token,
)

from src.domain.user_journey import nudge_id
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.e2e.conftest import Server, running_server

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

ALICE = "00000000-0000-4000-8000-00000000a11c"
BOB = "00000000-0000-4000-8000-000000000b0b"
CAROL = "00000000-0000-4000-8000-0000000ca201"
LETTERS, CV = "phoenix-letters", "phoenix-cv"
# Moments the rules compare with now, moved back to let time pass.
BACK_DATE = (
    "UPDATE phoenix_nudges_sent SET shown_at = shown_at - %(d)s::interval",
    "UPDATE phoenix_nudges SET detected_at = detected_at - %(d)s::interval,"
    " converted_at = converted_at - %(d)s::interval",
    'UPDATE phoenix_events SET "timestamp" = "timestamp" - %(d)s::interval',
    "UPDATE phoenix_private.phoenix_nudge_offers SET offered_at = offered_at - %(d)s::interval",
)


class Paths:
    """The three ways an app reads its nudges, asked the same question each time."""

    def __init__(self, server: Server, sql: PhoenixEventBridge, rest: PhoenixEventBridge) -> None:
        self.server, self.sql, self.rest = server, sql, rest

    def nudges(self, user: str, app: str, lang: str = "fr") -> list[dict[str, Any]]:
        answer = self.server.client.get(
            f"/api/users/{user}/nudges", params={"app": app, "lang": lang}
        )
        assert answer.status_code == 200, answer.text
        over_http: list[dict[str, Any]] = answer.json()
        over_sql = self.sql.get_nudges(user, app, lang=lang)
        over_rest = self.rest.get_nudges(user, app, lang=lang, access_token=user_token(user))
        assert over_http == over_sql == over_rest, (user, app, lang)
        return over_http

    def everyone(self) -> dict[tuple[str, str, str], list[tuple[str, str, str]]]:
        """Every user's nudges in every app and language, as (type, variant, message)."""
        return {
            (user, app, lang): [
                (n["nudge_type"], n["variant"], n["message"]) for n in self.nudges(user, app, lang)
            ]
            for user in (ALICE, BOB, CAROL)
            for app in (LETTERS, CV)
            for lang in ("fr", "en")
        }

    def process(self) -> None:
        assert self.server.client.post("/api/events/process-queue").status_code == 200


@pytest.fixture
def project(postgres_url: str) -> str:
    make_it_supabase(postgres_url)
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    return postgres_url


@pytest.fixture
def paths(project: str, tmp_path: Path) -> Iterator[Paths]:
    gateway = SupabaseGateway(project)
    # No worker of its own until asked (POST /api/events/process-queue): no drain at start,
    # no poll within the test, and no LISTEN (polling only, as behind a pooler).
    with running_server(
        f"{project}?pooler=transaction",
        AUTO_PROCESS_ON_STARTUP="false",
        POLL_INTERVAL_SECONDS="3600",
    ) as server:
        sql = BridgeConfig(transport="sql", database_url=project, outbox_path=tmp_path / "s.db")
        rest = BridgeConfig(
            transport="supabase",
            supabase_url=gateway.url,
            supabase_key=ANON_KEY,
            outbox_path=tmp_path / "r.db",
        )
        with (
            PhoenixEventBridge(LETTERS, sql, background_flush=False) as over_sql,
            PhoenixEventBridge(LETTERS, rest, background_flush=False) as over_rest,
        ):
            yield Paths(server, over_sql, over_rest)
    gateway.close()


def time_passes(url: str, hours: int) -> None:
    with psycopg.connect(url) as connection:
        for statement in BACK_DATE:
            connection.execute(statement, {"d": f"{hours} hours"})


def emit(paths: Paths, app: str, event_type: str, user: str, key: str | None = None) -> None:
    """An event as the app publishes it, through the bridge's SQL transport."""
    with PhoenixEventBridge(app, paths.sql.config, background_flush=False) as bridge:
        assert bridge.emit(event_type, user, {}, key) == "delivered"


def test_every_path_gives_the_same_nudges_at_every_step(paths: Paths, project: str) -> None:
    emit(paths, LETTERS, "letter.generated", ALICE)
    emit(paths, CV, "cv.uploaded", BOB)
    emit(paths, LETTERS, "letter.generated", CAROL)
    emit(paths, CV, "cv.generated", CAROL)

    # Before the worker's first run: the degraded mode, under the ids the worker will give.
    seen = paths.everyone()
    assert seen[ALICE, LETTERS, "fr"] == [
        ("letters_to_cv", "chances", "Optimisez vos chances avec Phoenix CV !")
    ]
    assert seen[ALICE, LETTERS, "en"] == [
        ("letters_to_cv", "chances", "Boost your chances with Phoenix CV!")
    ]
    assert seen[BOB, CV, "en"] == [
        (
            "cv_to_letters",
            "complete",
            "Complete your application with a Phoenix Letters cover letter!",
        )
    ]
    assert [key for key, found in seen.items() if found] == [
        (ALICE, LETTERS, "fr"),
        (ALICE, LETTERS, "en"),
        (BOB, CV, "fr"),
        (BOB, CV, "en"),
    ]  # Carol uses both apps: nothing to suggest
    [offer] = paths.nudges(ALICE, LETTERS)
    assert offer["nudge_id"] == nudge_id(ALICE, "letters_to_cv")

    # Alice's app shows it, through Supabase with her token: hidden on every path.
    assert paths.rest.mark_shown(offer["nudge_id"], access_token=user_token(ALICE))
    assert paths.everyone()[ALICE, LETTERS, "fr"] == []

    # The worker's first run: the same nudges, Alice's still hidden, its wording kept.
    paths.process()
    after = paths.everyone()
    assert after[ALICE, LETTERS, "fr"] == []
    assert [t for t, _, _ in after[BOB, CV, "fr"]] == ["cv_to_letters"]

    # Bob's app shows his, through the API: hidden on every path.
    [bobs] = paths.nudges(BOB, CV)
    assert paths.server.client.post(f"/api/nudges/{bobs['nudge_id']}/shown").status_code == 200
    assert paths.everyone()[BOB, CV, "fr"] == []

    # Alice writes five letters: a second nudge in Letters, held back by the daily cap.
    for n in range(5):
        emit(paths, LETTERS, "letter.generated", ALICE, key=f"letter-{n}")
    paths.process()
    assert paths.everyone()[ALICE, LETTERS, "fr"] == []

    # A day later: the cooldown and the cap have passed; one nudge a day, the one ranked
    # higher at detection first: the later one here, on every path.
    with psycopg.connect(project) as connection:
        connection.execute(
            "UPDATE phoenix_nudges SET rank = CASE nudge_type"
            " WHEN 'letters_to_rise' THEN 0.9 ELSE 0.1 END WHERE user_id = %s",
            (ALICE,),
        )
    time_passes(project, 25)
    later = paths.everyone()
    assert [t for t, _, _ in later[ALICE, LETTERS, "fr"]] == ["letters_to_rise"]
    assert [t for t, _, _ in later[BOB, CV, "en"]] == ["cv_to_letters"]
    [again] = paths.nudges(ALICE, LETTERS)
    assert paths.sql.mark_shown(again["nudge_id"])  # through the SQL transport this time
    assert paths.everyone()[ALICE, LETTERS, "en"] == []

    # Carol, never nudged; Bob acting on his nudge: nothing left to show anyone.
    emit(paths, LETTERS, "letter.generated", BOB)
    paths.process()
    final = paths.everyone()
    assert final[BOB, CV, "fr"] == []
    with psycopg.connect(project) as connection:
        shown = connection.execute(
            "SELECT nudge_id, count(*) FROM phoenix_nudges_sent GROUP BY nudge_id ORDER BY 1"
        ).fetchall()
        kept = connection.execute(
            "SELECT variant FROM phoenix_nudges WHERE nudge_id = %s", (offer["nudge_id"],)
        ).fetchone()
    assert sorted(shown) == sorted(
        [(offer["nudge_id"], 1), (again["nudge_id"], 1), (bobs["nudge_id"], 1)]
    )
    assert again["nudge_id"] == nudge_id(ALICE, "letters_to_rise")
    assert kept == ("chances",)
