"""What a Supabase project's REST API lets each key do once the SQL file has run.

Plain supabase-py calls (the way docs/supabase.md has the apps insert) and raw HTTP go
through the gateway double (``postgrest_fake``): the apikey is checked, the JWT's role and
claims are applied in the real PostgreSQL, which alone decides through its grants and
row-level security.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from postgrest_fake import (
    ANON_KEY,
    SERVICE_KEY,
    SupabaseGateway,
    make_it_supabase,
    sign_jwt,
    user_token,
)
from psycopg import sql
from supabase import Client, ClientOptions, create_client

from src.adapters.sql.database import SCHEMA_FILE
from src.adapters.sql.tables import PRIVATE_SCHEMA
from src.domain.events import MAX_PAYLOAD_DEPTH
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres

ALICE = "00000000-0000-4000-8000-00000000a11c"
BOB = "00000000-0000-4000-8000-000000000b0b"
ROOT = Path(__file__).resolve().parents[3]


def event(user: str, **more: Any) -> dict[str, Any]:
    return {
        "event_type": "cv.uploaded",
        "app_source": "phoenix-cv",
        "user_id": user,
        "payload": {"cv_id": "c1"},
        **more,
    }


@pytest.fixture
def project(postgres_url: str) -> str:
    """A Supabase-like database, migrated, with a processed sample in every table."""
    make_it_supabase(postgres_url)
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        container.ingestion().publish(
            [
                {"event_type": "letter.generated", "app_source": "phoenix-letters", "user_id": u}
                for u in (ALICE, BOB)
            ]
        )
        asyncio.run(container.processor().drain())
        for nudge in container.queries().list_active_nudges(BOB, "phoenix-letters"):
            container.queries().record_nudge_shown(nudge.nudge_id)
    finally:
        close_flywheel(container)
    with psycopg.connect(postgres_url) as connection:  # an insight each, as analysers raise
        for user in (ALICE, BOB):
            connection.execute(
                "INSERT INTO phoenix_insights (insight_id, user_id, kind, messages, created_at) "
                """VALUES (%s, %s, 'skills_gap', '{"fr": "f", "en": "e"}', now())""",
                (f"insight-of-{user}", user),
            )
    return postgres_url


@pytest.fixture
def gateway(project: str) -> Iterator[SupabaseGateway]:
    double = SupabaseGateway(project)
    yield double
    double.close()


def client(gateway: SupabaseGateway, key: str = ANON_KEY, token: str | None = None) -> Client:
    """As docs/supabase.md has the apps make it; a signed-in user's token rides in the headers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return create_client(gateway.url, key, ClientOptions(headers=headers))


def call(
    gateway: SupabaseGateway,
    method: str,
    name: str,
    *,
    key: str | None = ANON_KEY,
    token: str | None = None,
    **request: Any,
) -> httpx.Response:
    headers = dict(request.pop("headers", {}))
    if key is not None:
        headers["apikey"] = key
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{gateway.url}/rest/v1/{name}"
    return httpx.request(method, url, headers=headers, timeout=10, **request)


def owner_rows(url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute(query, params).fetchall()


def count_rows(url: str, table: str) -> int:
    with psycopg.connect(url) as connection:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", table))
        row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0


def stored_users(url: str) -> list[str]:
    return [row[0] for row in owner_rows(url, "SELECT user_id FROM phoenix_events ORDER BY id")]


# --- The calls docs/supabase.md shows ---------------------------------------------------


def test_the_anon_key_inserts_with_returning_minimal_and_reads_nothing_back(
    gateway: SupabaseGateway, project: str
) -> None:
    supabase = client(gateway)
    supabase.table("phoenix_events").insert(event("carol"), returning="minimal").execute()
    assert stored_users(project)[-1] == "carol"
    # supabase-py's default asks the row back, which needs a right anon does not have.
    with pytest.raises(APIError) as refused:
        supabase.table("phoenix_events").insert(event("dave")).execute()
    assert refused.value.code == "42501"
    with pytest.raises(APIError, match="permission denied"):
        supabase.table("phoenix_events").select("*").execute()
    assert "dave" not in stored_users(project)


@pytest.mark.parametrize("way", ["client options", "postgrest.auth"])
def test_a_signed_in_user_inserts_their_own_events_with_their_token(
    gateway: SupabaseGateway, project: str, way: str
) -> None:
    token = user_token(ALICE)
    if way == "client options":
        supabase = client(gateway, token=token)
    else:
        supabase = client(gateway)
        supabase.postgrest.auth(token)
    supabase.table("phoenix_events").insert(event(ALICE), returning="minimal").execute()
    with pytest.raises(APIError) as refused:
        supabase.table("phoenix_events").insert(event(BOB), returning="minimal").execute()
    assert refused.value.code == "42501"
    assert "row-level security" in str(refused.value.message)
    mine = supabase.table("phoenix_events").select("user_id").execute().data
    assert {row["user_id"] for row in mine} == {ALICE}
    assert stored_users(project).count(ALICE) == 2
    for headers in [h for method, _, h in gateway.requests if method == "POST"]:
        assert (headers["apikey"], headers["authorization"]) == (ANON_KEY, f"Bearer {token}")


# --- The gateway and PostgREST, as Supabase runs them -----------------------------------


def test_only_the_projects_keys_pass_the_gateway(gateway: SupabaseGateway, project: str) -> None:
    before = stored_users(project)
    with pytest.raises(APIError, match="Invalid API key"):
        client(gateway, key=user_token(ALICE)).table("phoenix_events").insert(
            event(ALICE), returning="minimal"
        ).execute()
    missing = call(gateway, "POST", "phoenix_events", key=None, json=event("x"))
    assert (missing.status_code, missing.json()["message"]) == (
        401,
        "No API key found in request",
    )
    forged = sign_jwt({"role": "service_role"}, secret="not-the-projects-secret-" * 2)
    for token, code in ((forged, "PGRST301"), (user_token(ALICE, expires_in=-1), "PGRST303")):
        answer = call(gateway, "POST", "phoenix_events", token=token, json=event(ALICE))
        assert (answer.status_code, answer.json()["code"]) == (401, code)
    assert set(answer.json()) == {"code", "message", "details", "hint"}
    assert stored_users(project) == before


def test_postgrest_statuses_follow_the_sqlstate(gateway: SupabaseGateway) -> None:
    twin = event("erin", event_hash="h" * 64)
    first = call(gateway, "POST", "phoenix_events", json=twin, headers={"Prefer": "return=minimal"})
    again = call(gateway, "POST", "phoenix_events", json=twin, headers={"Prefer": "return=minimal"})
    assert (first.status_code, first.content) == (201, b"")
    assert (again.status_code, again.json()["code"]) == (409, "23505")
    assert "phoenix_events_event_hash_key" in again.json()["message"]
    anon = call(gateway, "GET", "phoenix_nudges")
    user = call(gateway, "GET", "phoenix_nudges_sent", token=user_token(ALICE))
    assert (anon.status_code, anon.json()["code"]) == (401, "42501")
    assert (user.status_code, user.json()["code"]) == (403, "42501")
    missing = call(gateway, "GET", "no_such_table", key=SERVICE_KEY)
    assert (missing.status_code, missing.json()["code"]) == (404, "PGRST205")


# --- Column grants: an event's own fields only --------------------------------------------

FORGED = (
    {"id": 10_000},
    {"status": "processed"},
    {"attempts": 0},
    {"received_at": "2020-01-01T00:00:00Z"},
    {"locked_until": "2999-01-01T00:00:00Z"},
    {"processed_at": "2020-01-01T00:00:00Z"},
    {"ai_processing_error": "x"},
    {"locked_by": "worker:1"},
)


@pytest.mark.parametrize("forged", FORGED, ids=lambda forged: next(iter(forged)))
def test_no_key_but_the_service_key_chooses_the_workers_columns(
    gateway: SupabaseGateway, project: str, forged: dict[str, Any]
) -> None:
    before = stored_users(project)
    for token, status in ((None, 401), (user_token(ALICE), 403)):
        answer = call(
            gateway,
            "POST",
            "phoenix_events",
            token=token,
            json=event(ALICE, **forged),
            headers={"Prefer": "return=minimal"},
        )
        assert (answer.status_code, answer.json()["code"]) == (status, "42501"), forged
    assert stored_users(project) == before
    # The same event without the forged column goes in.
    assert call(gateway, "POST", "phoenix_events", json=event(ALICE)).status_code == 201


# --- Rows the worker could not read back ------------------------------------------------------


def nested(depth: int) -> str:
    """A JSON object with ``depth`` levels of objects, itself the first (as text: Python's
    own encoder gives up long before a thousand levels)."""
    return '{"n": ' * (depth - 1) + "{}" + "}" * (depth - 1)


# Each case: fields of the event, and its payload as JSON text.
UNDECODABLE = {
    "timestamp infinity": ({"timestamp": "infinity"}, "{}"),
    "timestamp -infinity": ({"timestamp": "-infinity"}, "{}"),
    "timestamp after 9999": ({"timestamp": "10000-01-01T00:00:00Z"}, "{}"),
    "timestamp BC": ({"timestamp": "0044-03-15 00:00:00+00 BC"}, "{}"),
    "payload too deep": ({}, nested(MAX_PAYLOAD_DEPTH + 1)),
    "payload a thousand deep": ({}, nested(1000)),
    "payload an array": ({}, "[1, 2]"),
    "payload a string": ({}, '"text"'),
}


def body(user: str, fields: dict[str, Any], payload: str) -> str:
    without = {k: v for k, v in event(user, **fields).items() if k != "payload"}
    return json.dumps(without)[:-1] + f', "payload": {payload}}}'


@pytest.mark.parametrize(("fields", "payload"), UNDECODABLE.values(), ids=UNDECODABLE.keys())
def test_rows_the_worker_could_not_decode_are_refused(
    gateway: SupabaseGateway, project: str, fields: dict[str, Any], payload: str
) -> None:
    before = stored_users(project)
    for token in (None, user_token(ALICE)):
        answer = call(
            gateway,
            "POST",
            "phoenix_events",
            token=token,
            content=body(ALICE, fields, payload),
            headers={"Content-Type": "application/json", "Prefer": "return=minimal"},
        )
        assert (answer.status_code, answer.json()["code"]) == (400, "23514"), answer.text
        if len(payload) < 1000:  # as the apps send it, through supabase-py
            with pytest.raises(APIError) as refused:
                client(gateway, token=token).table("phoenix_events").insert(
                    {**event(ALICE, **fields), "payload": json.loads(payload)},
                    returning="minimal",
                ).execute()
            assert refused.value.code == "23514"
    # Nobody inserts them, the tables' owner included.
    with psycopg.connect(project) as connection, pytest.raises(psycopg.errors.CheckViolation):
        connection.execute(
            "INSERT INTO phoenix_events (event_type, app_source, user_id, payload, timestamp) "
            "VALUES ('cv.uploaded', 'phoenix-cv', 'x', %s::jsonb, coalesce(%s, now()))",
            (payload, fields.get("timestamp")),
        )
    assert stored_users(project) == before


def test_what_is_accepted_at_the_edges_is_processed(gateway: SupabaseGateway, project: str) -> None:
    supabase = client(gateway)
    for user, fields in (
        ("deep", {"payload": json.loads(nested(MAX_PAYLOAD_DEPTH))}),
        ("early", {"timestamp": "0001-01-02T00:00:00Z"}),
        ("late", {"timestamp": "9999-12-30T23:59:59Z"}),
    ):
        supabase.table("phoenix_events").insert(
            event(user, **fields), returning="minimal"
        ).execute()
    container = open_flywheel(make_settings(project))
    try:
        asyncio.run(container.processor().drain())
        status = container.queries().get_queue_status()
    finally:
        close_flywheel(container)
    assert (status.pending, status.failed, status.dead) == (0, 0, 0)
    assert status.processed == 5


def test_the_depth_limit_is_one_number() -> None:
    sql = (ROOT / "infrastructure/database" / SCHEMA_FILE).read_text(encoding="utf-8")
    assert f"$.**{{{MAX_PAYLOAD_DEPTH}}}" in sql
    assert f"more than {MAX_PAYLOAD_DEPTH} levels" in sql
    guide = (ROOT / "docs" / "supabase.md").read_text(encoding="utf-8")
    assert f"{MAX_PAYLOAD_DEPTH} levels" in guide


# --- Nothing of the worker's is reachable ----------------------------------------------------

RELATIONS = """
SELECT c.relname, c.relkind::text, c.relrowsecurity,
       coalesce('security_invoker=true' = ANY(c.reloptions), false),
       has_table_privilege('anon', c.oid, 'SELECT')
           OR has_table_privilege('authenticated', c.oid, 'SELECT')
FROM pg_class AS c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY 1
"""


# What a signed-in user may read whole, as it holds no user's data: the experiments'
# wordings and the nudge types, so that the opportunities they read have their wording.
NO_USER_DATA = {"phoenix_nudge_variants", "phoenix_nudge_types"}


def test_every_table_in_public_has_row_level_security_and_no_key_reads_or_deletes_another_users_rows(  # noqa: E501
    gateway: SupabaseGateway, project: str
) -> None:
    relations = owner_rows(project, RELATIONS)
    assert len(relations) >= 6
    for name, kind, secured, invoker, readable in relations:
        if kind in ("r", "p"):
            # Supabase's advisor rule rls_disabled_in_public.
            assert secured, f"{name}: a table in public without row-level security"
        else:
            assert invoker or not readable, f"{name}: a view bypassing row-level security"
    tables = [name for name, kind, *_ in relations if kind in ("r", "p")]
    counts = {name: count_rows(project, name) for name in tables}
    assert all(counts.values()), counts  # the sample filled every table
    alice = user_token(ALICE)
    for name, *_ in relations:
        for token in (None, alice):
            read = call(gateway, "GET", name, token=token)
            if read.status_code == 200:
                users = {row.get("user_id") for row in read.json()}
                if token and name in NO_USER_DATA:
                    assert users == {None}, name  # readable, and nobody's
                else:
                    assert users <= ({ALICE} if token else set()), (name, token is not None)
            else:
                assert read.status_code in (401, 403), (name, read.text)
            call(gateway, "DELETE", name, token=token)
            call(gateway, "PATCH", name, token=token, json={"user_id": ALICE})
    after = {name: count_rows(project, name) for name in tables}
    assert after == counts
    assert set(owner_rows(project, "SELECT DISTINCT user_id FROM phoenix_events")) == {
        (ALICE,),
        (BOB,),
    }


def test_the_journeys_live_in_the_private_schema_out_of_reach(
    gateway: SupabaseGateway, project: str
) -> None:
    private = owner_rows(
        project,
        "SELECT c.relname FROM pg_class AS c WHERE c.relkind = 'r' "
        "AND c.relnamespace = %s::regnamespace ORDER BY 1",
        PRIVATE_SCHEMA,
    )
    assert [name for (name,) in private] == [
        "phoenix_applied_events",
        "phoenix_nudge_offers",
        "phoenix_projection_tracking",
        "phoenix_skill_profiles",
        "phoenix_skills_extractions",
        "phoenixjourneys_events",
        "phoenixjourneys_snapshots",
    ]
    journey_events = owner_rows(
        project, "SELECT count(*) FROM phoenix_private.phoenixjourneys_events"
    )
    assert journey_events[0][0] > 0
    for token in (None, user_token(ALICE)):
        for name in [name for (name,) in private]:
            assert call(gateway, "GET", name, token=token).status_code == 404
            assert call(gateway, "DELETE", name, token=token).status_code == 404
        sideways = call(
            gateway,
            "GET",
            "phoenixjourneys_events",
            token=token,
            headers={"Accept-Profile": PRIVATE_SCHEMA},
        )
        assert (sideways.status_code, sideways.json()["code"]) == (406, "PGRST106")
    # Even a role that reached the database another way has no right on the schema.
    for role in ("anon", "authenticated"):
        with psycopg.connect(project, autocommit=True) as connection:
            connection.execute(f"SET ROLE {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema"):
                connection.execute("SELECT * FROM phoenix_private.phoenixjourneys_events")
    assert (
        owner_rows(project, "SELECT count(*) FROM phoenix_private.phoenixjourneys_events")
        == journey_events
    )


# --- The nudges' functions, through rpc ------------------------------------------------------


def nudges_of(supabase: Client, user: str) -> Any:
    return (
        supabase.rpc(
            "phoenix_active_nudges",
            {"p_user_id": user, "p_app": "phoenix-letters", "p_lang": "en"},
        )
        .execute()
        .data
    )


def test_the_nudges_functions_reach_a_users_own_nudges_only(
    gateway: SupabaseGateway, project: str
) -> None:
    alices = owner_rows(project, "SELECT nudge_id FROM phoenix_nudges WHERE user_id = %s", ALICE)
    bobs = owner_rows(project, "SELECT nudge_id FROM phoenix_nudges WHERE user_id = %s", BOB)
    [(alices_nudge,)], [(bobs_nudge,)] = alices, bobs
    displays = count_rows(project, "phoenix_nudges_sent")
    # The anon key calls neither (401, as for a table it may not read).
    for call_it in (
        lambda s: nudges_of(s, ALICE),
        lambda s: s.rpc("phoenix_mark_nudge_shown", {"p_nudge_id": alices_nudge}).execute(),
    ):
        with pytest.raises(APIError) as refused:
            call_it(client(gateway))
        assert refused.value.code == "42501"
    # A signed-in user: her own nudges, in her language; not Bob's, whichever way asked.
    alice = client(gateway, token=user_token(ALICE))
    [mine] = nudges_of(alice, ALICE)
    assert (mine["nudge_id"], mine["nudge_type"]) == (alices_nudge, "letters_to_cv")
    assert mine["message"] in (
        "Boost your chances with Phoenix CV!",
        "A polished CV makes the difference: build yours with Phoenix CV!",
    )
    with pytest.raises(APIError) as refused:
        nudges_of(alice, BOB)
    assert refused.value.code == "42501"
    with pytest.raises(APIError) as refused:
        alice.rpc("phoenix_mark_nudge_shown", {"p_nudge_id": bobs_nudge}).execute()
    assert refused.value.code == "42501"
    unknown = alice.rpc("phoenix_mark_nudge_shown", {"p_nudge_id": "no-such-nudge"}).execute()
    assert unknown.data is False
    shown = alice.rpc(
        "phoenix_mark_nudge_shown", {"p_nudge_id": alices_nudge, "p_app": "phoenix-letters"}
    ).execute()
    assert shown.data is True
    assert nudges_of(alice, ALICE) == []  # shown: hidden for the cooldown
    # Over raw HTTP, PostgREST's statuses: 401 for anon, 403 for another user's.
    anon = call(
        gateway, "POST", "rpc/phoenix_active_nudges", json={"p_user_id": ALICE, "p_app": "x"}
    )
    other = call(
        gateway,
        "POST",
        "rpc/phoenix_active_nudges",
        token=user_token(ALICE),
        json={"p_user_id": BOB, "p_app": "phoenix-letters"},
    )
    assert (anon.status_code, other.status_code) == (401, 403)
    # The service role reaches anyone's (Bob's was shown by the sample: hidden).
    service = client(gateway, key=SERVICE_KEY)
    assert nudges_of(service, BOB) == []
    assert [n["nudge_id"] for n in nudges_of(service, ALICE)] == []
    assert count_rows(project, "phoenix_nudges_sent") == displays + 1
