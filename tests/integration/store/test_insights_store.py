"""Insights on the real stores: one answer whichever way they are read (the API's
service, the bridge's SQL transport, Supabase's REST API through supabase-py and the
gateway double), row-level security on them, the SQLite home of the rule held to the
PostgreSQL function, and erasure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from phoenix_bridge import BridgeConfig, PhoenixEventBridge
from postgrest.exceptions import APIError
from postgrest_fake import (
    ANON_KEY,
    SERVICE_KEY,
    PostgrestFake,
    make_it_supabase,
    user_token,
)
from sqlalchemy import create_engine
from supabase import ClientOptions, create_client

from src.adapters.postgres.insight_board import PostgresInsightBoard
from src.adapters.sql.database import create_schema, create_sqlite_engine, sqlalchemy_url
from src.adapters.sql.tables import insights
from src.adapters.sqlite.insight_board import SqliteInsightBoard
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings

ALICE = "00000000-0000-4000-8000-00000000a11c"
BOB = "00000000-0000-4000-8000-000000000b0b"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def offer_and_cv(user: str, cv_skills: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "event_type": "job_offer.analyzed",
            "app_source": "phoenix-letters",
            "user_id": user,
            "payload": {
                "offer_id": "airbus-42",
                "company": "Airbus",
                "skills": ["Python", "SQL", "Docker", "anglais"],
            },
            "timestamp": T0.isoformat(),
        },
        {
            "event_type": "cv.uploaded",
            "app_source": "phoenix-cv",
            "user_id": user,
            "payload": {"cv_id": "cv-1", "skills": cv_skills},
            "timestamp": (T0 + timedelta(hours=1)).isoformat(),
        },
    ]


def processed(container: Container, events: list[dict[str, Any]]) -> None:
    container.ingestion().publish(events)
    asyncio.run(container.processor().drain())


@pytest.fixture
def supabase_store(postgres_url: str) -> str:
    make_it_supabase(postgres_url)
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        processed(container, offer_and_cv(ALICE, ["Python"]))
        processed(container, offer_and_cv(BOB, ["Docker", "SQL"]))
    finally:
        close_flywheel(container)
    return postgres_url


@pytest.fixture
def rest(supabase_store: str) -> Iterator[PostgrestFake]:
    fake = PostgrestFake(supabase_store)
    yield fake
    fake.close()


def service_answer(url: str, user: str, lang: str) -> list[dict[str, Any]]:
    """What the HTTP API's service answers, as the bridge shapes it."""
    container = open_flywheel(make_settings(url))
    try:
        return [
            {
                "insight_id": i.insight_id,
                "kind": i.kind,
                "data": dict(i.data),
                "message": i.message,
                "created_at": i.created_at,
            }
            for i in container.queries().list_insights(user, lang)
        ]
    finally:
        close_flywheel(container)


@pytest.mark.postgres
def test_the_sql_transport_answers_what_the_api_answers(
    supabase_store: str, tmp_path: Path
) -> None:
    config = BridgeConfig(transport="sql", database_url=supabase_store, outbox_path=tmp_path / "o")
    with PhoenixEventBridge("phoenix-cv", config) as bridge:
        for lang in ("fr", "en"):
            found = bridge.get_insights(ALICE, lang=lang)
            assert found == service_answer(supabase_store, ALICE, lang)
        (insight,) = bridge.get_insights(ALICE)
    assert insight["kind"] == "skills_gap"
    assert insight["data"]["missing"] == ["SQL", "Docker", "anglais"]
    assert insight["message"] == (
        "3 compétences demandées par l'offre Airbus manquent à votre CV : SQL, Docker, anglais"
    )
    assert insight["created_at"] == T0 + timedelta(hours=1)


@pytest.mark.postgres
def test_the_supabase_transport_reads_a_users_own_insights_only(
    rest: PostgrestFake, supabase_store: str, tmp_path: Path
) -> None:
    config = BridgeConfig(
        transport="supabase",
        supabase_url=rest.url,
        supabase_key=ANON_KEY,
        outbox_path=tmp_path / "o.db",
    )
    alice = user_token(ALICE)
    with PhoenixEventBridge("phoenix-cv", config) as bridge:
        mine = bridge.get_insights(ALICE, lang="en", access_token=alice)
        assert mine == service_answer(supabase_store, ALICE, "en")
        assert [i["data"]["missing"] for i in mine] == [["SQL", "Docker", "anglais"]]
        assert bridge.get_insights(ALICE) == []  # the anon key reads nobody's
        assert bridge.get_insights(BOB, access_token=alice) == []  # nor someone else's
    service = BridgeConfig(
        transport="supabase",
        supabase_url=rest.url,
        supabase_key=SERVICE_KEY,
        outbox_path=tmp_path / "s.db",
    )
    with PhoenixEventBridge("phoenix-cv", service) as bridge:
        assert [i["data"]["missing"] for i in bridge.get_insights(BOB)] == [["Python", "anglais"]]


@pytest.mark.postgres
def test_row_level_security_on_the_table_through_rest(
    rest: PostgrestFake, supabase_store: str
) -> None:
    signed_in = create_client(
        rest.url, ANON_KEY, ClientOptions(headers={"Authorization": f"Bearer {user_token(ALICE)}"})
    )
    rows = signed_in.table("phoenix_insights").select("user_id, kind").execute().data
    assert rows == [{"user_id": ALICE, "kind": "skills_gap"}]
    anon = create_client(rest.url, ANON_KEY)
    with pytest.raises(APIError, match="permission denied"):
        anon.table("phoenix_insights").select("*").execute()
    with pytest.raises(APIError):
        anon.rpc("phoenix_user_insights", {"p_user_id": ALICE}).execute()
    with pytest.raises(APIError):
        signed_in.table("phoenix_skill_profiles").select("*").execute()
    with pytest.raises(APIError):
        signed_in.table("phoenix_insights").delete().eq("user_id", ALICE).execute()
    with psycopg.connect(supabase_store) as connection:
        left = connection.execute("SELECT count(*) FROM phoenix_insights").fetchone()
    assert left == (2,)


@pytest.mark.postgres
def test_forget_erases_the_insights_and_the_skills_noted(supabase_store: str) -> None:
    container = open_flywheel(make_settings(supabase_store))
    try:
        report = container.erasure().forget(ALICE)
        assert (report.insights, report.skill_profiles) == (1, 2)
        assert container.queries().list_insights(ALICE) == []
        assert len(container.queries().list_insights(BOB)) == 1
    finally:
        close_flywheel(container)
    with psycopg.connect(supabase_store) as connection:
        left = connection.execute(
            "SELECT count(*) FROM phoenix_private.phoenix_skill_profiles WHERE user_id = %s",
            (ALICE,),
        ).fetchone()
    assert left == (0,)


ROWS = [
    # Two at the same time (ordered by id), one older, one with French only, someone else's.
    ("b" * 64, "u1", "skills_gap", {"fr": "B fr", "en": "B en"}, T0 + timedelta(hours=2)),
    ("a" * 64, "u1", "skills_gap", {"fr": "A fr", "en": "A en"}, T0 + timedelta(hours=2)),
    ("c" * 64, "u1", "other", {"fr": "C fr", "en": ""}, T0),
    ("d" * 64, "u1", "other", {"fr": "D fr"}, T0 + timedelta(hours=1)),
    ("e" * 64, "u2", "skills_gap", {"fr": "E fr", "en": "E en"}, T0),
]


@pytest.mark.postgres
@pytest.mark.parametrize("lang", ["fr", "en", "de"])
def test_the_sqlite_home_of_the_rule_answers_as_the_sql_function(
    postgres_url: str, tmp_path: Path, lang: str
) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    engines = {
        "postgres": create_engine(sqlalchemy_url(postgres_url)),
        "sqlite": create_sqlite_engine(f"sqlite:///{tmp_path / 'f.db'}"),
    }
    create_schema(engines["sqlite"])
    rows = [
        {
            "insight_id": i,
            "user_id": u,
            "kind": k,
            "source_hashes": [i],
            "data": {"n": n},
            "messages": m,
            "created_at": at,
        }
        for n, (i, u, k, m, at) in enumerate(ROWS)
    ]
    try:
        for engine in engines.values():
            with engine.begin() as connection:
                connection.execute(insights.insert(), rows)
        sqlite = SqliteInsightBoard(engines["sqlite"]).user_insights("u1", lang)
        postgres = PostgresInsightBoard(engines["postgres"]).user_insights("u1", lang)
    finally:
        for engine in engines.values():
            engine.dispose()
    assert sqlite == postgres
    assert [i.insight_id[0] for i in postgres] == ["a", "b", "d", "c"]
    expected_c = {"fr": "C fr", "en": "C fr", "de": "C fr"}[lang]
    assert postgres[3].message == expected_c
    assert postgres[2].message == "D fr"
    assert postgres[0].data == {"n": 1}
