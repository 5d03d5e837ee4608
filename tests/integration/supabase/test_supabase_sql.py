"""The Supabase SQL file on a real PostgreSQL: schema, analytics, views, row-level security.

Supabase's roles (anon, authenticated, service_role), its default grants on public and
``auth.uid()`` are recreated as Supabase provides them (``make_it_supabase``), then each
policy is proven by acting as each role.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from postgrest_fake import make_it_supabase
from sqlalchemy import create_engine, inspect

from src.adapters.sql.database import (
    PACKAGED_SCHEMA_DIR,
    SCHEMA_FILE,
    create_schema,
    postgres_schema_sql,
    sqlalchemy_url,
)
from src.adapters.sql.tables import PRIVATE_SCHEMA, metadata
from src.application.errors import SchemaMissingError
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.cli.commands import main
from src.entrypoints.settings import Settings
from tests.conftest import ADMIN_URL, database_url_for, make_settings, new_database_name

pytestmark = pytest.mark.postgres
TABLE_NAMES = [table.name for table in metadata.tables.values()]
QUALIFIED_NAMES = list(metadata.tables)  # phoenix_private.… for the worker's own

ALICE = "00000000-0000-4000-8000-00000000a11c"
BOB = "00000000-0000-4000-8000-000000000b0b"
SEED_QUERIES = (
    "SELECT event_type, app_source, payload, timestamp FROM phoenix_events "
    "ORDER BY timestamp DESC LIMIT 10",
    "SELECT get_phoenix_ecosystem_stats(30)",
    "SELECT * FROM phoenix_nudge_opportunities",
    "SELECT * FROM phoenix_user_journey WHERE user_id = 'u1' ORDER BY timestamp",
    "SELECT * FROM phoenix_events WHERE ai_processing_error IS NOT NULL",
)


def publish(container: Container, *events: tuple[str, str, str]) -> None:
    container.ingestion().publish(
        [{"event_type": t, "app_source": a, "user_id": u} for t, a, u in events]
    )


@pytest.fixture
def flywheel_settings(postgres_url: str) -> Settings:
    """The shared ``flywheel`` on PostgreSQL, the only store the SQL file is for."""
    return make_settings(postgres_url)


def test_the_file_builds_the_tables_the_worker_uses_and_runs_twice(
    flywheel: Container,
) -> None:
    engine = flywheel.engine()
    assert create_schema(engine) == []  # second run: nothing new, no error
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        columns = {c["name"]: c for c in inspector.get_columns(table.name, table.schema)}
        assert set(columns) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (table.name, column.name)
        indexes = {i["name"] for i in inspector.get_indexes(table.name, table.schema)}
        assert {i.name for i in table.indexes} <= indexes, table.name


# What `\\d` shows of a table, read from the catalog: columns (type, nullability, default),
# constraints, indexes and the sequences behind serial columns.
TABLE_SHAPE = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attnum
        FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relname = ANY(%(tables)s) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, a.attnum""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE (SELECT relname FROM pg_class WHERE oid = conrelid) = ANY(%(tables)s)
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE tablename = ANY(%(tables)s) ORDER BY 1, 2""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, increment_by FROM pg_sequences
        WHERE sequencename LIKE 'phoenix%%' ORDER BY 1""",
}
# Everything else the file makes, with the objects' identities (oids), so a second run that
# dropped and recreated anything would show; privileges as sets (a REVOKE then GRANT of the
# same right may reorder them).
OBJECTS = {
    "rls": """
        SELECT relname, relrowsecurity, relforcerowsecurity, oid::int8,
               ARRAY(SELECT a::text FROM unnest(relacl) AS a ORDER BY 1)
        FROM pg_class WHERE relname LIKE 'phoenix%%' ORDER BY 1""",
    "policies": """
        SELECT p.polrelid::regclass::text, p.polname, p.polcmd, p.polroles::regrole[]::text,
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
               p.oid::int8
        FROM pg_policy AS p ORDER BY 1, 2""",
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid), oid::int8
        FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2""",
    "column_grants": """
        SELECT attrelid::regclass::text, attname,
               ARRAY(SELECT a::text FROM unnest(attacl) AS a ORDER BY 1)
        FROM pg_attribute
        WHERE attacl IS NOT NULL AND attrelid::regclass::text LIKE 'phoenix%%' ORDER BY 1, 2""",
    "functions": """
        SELECT proname, pg_get_functiondef(oid), oid::int8,
               ARRAY(SELECT a::text FROM unnest(proacl) AS a ORDER BY 1) FROM pg_proc
        WHERE pronamespace IN ('public'::regnamespace, 'phoenix_private'::regnamespace)
        ORDER BY 1""",
    "private_schema": """
        SELECT nspname, ARRAY(SELECT a::text FROM unnest(nspacl) AS a ORDER BY 1)
        FROM pg_namespace WHERE nspname = 'phoenix_private'""",
    "views": """
        SELECT c.relname, pg_get_viewdef(c.oid), c.reloptions::text FROM pg_class AS c
        WHERE c.relkind = 'v' AND c.relname LIKE 'phoenix%%' ORDER BY 1""",
}


def catalog(url: str, queries: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    tables = TABLE_NAMES
    with psycopg.connect(url) as connection:
        return {
            name: connection.execute(query, {"tables": tables}).fetchall()  # type: ignore[arg-type]
            for name, query in queries.items()
        }


def apply_file(url: str) -> None:
    """Run the file as the SQL editor does: the whole text, in one go."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(postgres_schema_sql().encode())


@pytest.fixture
def another_postgres_url() -> Iterator[str]:
    name = new_database_name()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url_for(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_file_makes_the_very_tables_sqlalchemy_would(
    postgres_url: str, another_postgres_url: str
) -> None:
    apply_file(postgres_url)
    engine = create_engine(sqlalchemy_url(another_postgres_url))
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {PRIVATE_SCHEMA}")
        metadata.create_all(engine)
    finally:
        engine.dispose()
    from_file = catalog(postgres_url, TABLE_SHAPE)
    assert from_file == catalog(another_postgres_url, TABLE_SHAPE)
    assert len(from_file["columns"]) == sum(len(t.columns) for t in metadata.tables.values())
    assert len(from_file["indexes"]) > len(metadata.tables)


@pytest.mark.parametrize("supabase", [False, True], ids=["no-auth-schema", "supabase"])
def test_applying_the_file_twice_changes_nothing(postgres_url: str, supabase: bool) -> None:
    if supabase:
        make_it_supabase(postgres_url)
    apply_file(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO phoenix_events (event_type, app_source, user_id) "
            "VALUES ('cv.uploaded', 'phoenix-cv', 'u1')"
        )
    once = catalog(postgres_url, TABLE_SHAPE | OBJECTS)
    apply_file(postgres_url)
    engine = create_engine(sqlalchemy_url(postgres_url))
    try:
        assert create_schema(engine) == []  # what `migrate` runs: no table new, no error
    finally:
        engine.dispose()
    assert catalog(postgres_url, TABLE_SHAPE | OBJECTS) == once
    user_policies = [p for p in once["policies"] if "authenticated" in p[3]]
    if supabase:  # an event's own fields, for both roles; a display's, for users
        granted = {(table, column) for table, column, _ in once["column_grants"]}
        assert granted == {
            *(("phoenix_events", c) for c in ("event_type", "app_source", "user_id", "payload")),
            *(("phoenix_events", c) for c in ("timestamp", "idempotency_key", "event_hash")),
            *(("phoenix_nudges_sent", c) for c in ("nudge_id", "user_id", "app")),
        }
    # events insert + select, own nudges, own displays, the nudge wordings and types,
    # own insights
    assert (len(user_policies), len(once["triggers"])) == (7 if supabase else 0, 3)
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM phoenix_events").fetchone() == (1,)


# The file as the release before the worker's private schema, the column grants, the
# insert check, the lease holder and the experiments shipped it (kept verbatim).
PREVIOUS_FILE = Path(__file__).parent / "data" / "supabase_phoenix_events_clean.previous.sql"
# The catalog without the objects' oids, which differ from one database to another.
WITHOUT_OIDS = {"rls": 3, "policies": 6, "triggers": 3, "functions": 2}


def shape(url: str) -> dict[str, list[tuple[Any, ...]]]:
    found = catalog(url, TABLE_SHAPE | OBJECTS)
    for name, oid_at in WITHOUT_OIDS.items():
        found[name] = [row[:oid_at] + row[oid_at + 1 :] for row in found[name]]
    return found


def test_a_database_the_previous_release_made_gets_what_a_new_one_has(
    postgres_url: str, another_postgres_url: str
) -> None:
    for url in (postgres_url, another_postgres_url):
        make_it_supabase(url)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(PREVIOUS_FILE.read_bytes())
        connection.execute(
            "INSERT INTO phoenix_events (event_type, app_source, user_id) "
            "VALUES ('cv.uploaded', 'phoenix-cv', 'u1')"
        )
        connection.execute("INSERT INTO phoenix_projection_tracking VALUES ('journeys', 7)")
    apply_file(postgres_url)
    upgraded = shape(postgres_url)
    apply_file(postgres_url)  # and again: nothing changes
    assert shape(postgres_url) == upgraded
    apply_file(another_postgres_url)
    assert upgraded == shape(another_postgres_url)
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM phoenix_events").fetchone() == (1,)
        tracked = connection.execute(
            "SELECT name, position FROM phoenix_private.phoenix_projection_tracking"
        ).fetchall()
    assert tracked == [("journeys", 7)]


def test_views_left_by_an_older_file_are_brought_to_the_documented_columns(
    postgres_url: str,
) -> None:
    apply_file(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        # The first version of the file had more columns in both views.
        connection.execute(
            "DROP VIEW phoenix_user_journey; DROP VIEW phoenix_nudge_opportunities;"
            "CREATE VIEW phoenix_user_journey AS SELECT id, user_id, event_type, app_source, "
            "payload, timestamp, status FROM phoenix_events;"
            "CREATE VIEW phoenix_nudge_opportunities AS SELECT user_id, 'x'::text AS nudge_type, "
            "'a'::text AS shown_in, 'b'::text AS target_app, 'm'::text AS message, "
            "max(timestamp) AS last_activity FROM phoenix_events GROUP BY user_id"
        )
    apply_file(postgres_url)
    with psycopg.connect(postgres_url) as connection:
        for view, columns in (
            ("phoenix_user_journey", ["user_id", "event_type", "app_source", "timestamp"]),
            (
                "phoenix_nudge_opportunities",
                ["user_id", "nudge_type", "shown_in", "target_app", "message"],
            ),
        ):
            cursor = connection.execute(f"SELECT * FROM {view} LIMIT 0")  # noqa: S608 - fixed names
            assert [c.name for c in cursor.description or ()] == columns
            (options,) = connection.execute(  # type: ignore[misc]
                "SELECT reloptions FROM pg_class WHERE relname = %s", (view,)
            ).fetchone()
            assert options == ["security_invoker=true"]


def test_the_migrate_command_applies_the_whole_file(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    assert main(["migrate"]) == 0
    with psycopg.connect(postgres_url) as connection:
        for query in SEED_QUERIES:  # on an empty store too
            connection.execute(query).fetchall()
        (stats,) = connection.execute("SELECT get_phoenix_ecosystem_stats(30)").fetchone()  # type: ignore[misc]
        secured = connection.execute(
            "SELECT relname FROM pg_class WHERE relrowsecurity AND relname LIKE 'phoenix%%' "
            "ORDER BY 1"
        ).fetchall()
        triggers = connection.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'phoenix_events'::regclass "
            "AND NOT tgisinternal ORDER BY 1"
        ).fetchall()
    assert stats == {
        "period_days": 30,
        "total_events": 0,
        "unique_users": 0,
        "cross_app_users": 0,
        "events_by_app": {},
        "events_by_type": {},
        "nudges": {"detected": 0, "shown": 0, "converted": 0, "organic": 0},
        "app_combinations": {},
    }
    assert [name for (name,) in secured] == sorted(TABLE_NAMES)
    assert triggers == [
        ("phoenix_events_check_catalogue",),
        ("phoenix_events_check_new",),
        ("phoenix_events_inserted",),
    ]


def test_workers_migrating_together_all_succeed(postgres_url: str) -> None:
    engine = create_engine(sqlalchemy_url(postgres_url), pool_size=8)
    try:
        for _ in range(3):  # on a new database, then on a migrated one
            with ThreadPoolExecutor(max_workers=8) as pool:
                created = list(pool.map(lambda _: create_schema(engine), range(8)))
            assert sorted(name for names in created for name in names) in (
                sorted(QUALIFIED_NAMES),
                [],
            )
    finally:
        engine.dispose()


def test_a_client_inserting_four_columns_gets_the_rest_by_default(postgres_url: str) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute(
            "INSERT INTO phoenix_events (event_type, app_source, user_id, payload) "
            "VALUES ('cv.uploaded', 'phoenix-cv', 'u1', '{}') "
            "RETURNING status, attempts, timestamp IS NOT NULL, received_at IS NOT NULL"
        ).fetchone()
    assert row == ("pending", 0, True, True)


def as_json_shape(figures: Any) -> dict[str, Any]:
    """The API's figures in the JSON shape of GET /api/analytics/ecosystem."""
    return {
        "period_days": figures.period_days,
        "total_events": figures.total_events,
        "unique_users": figures.unique_users,
        "cross_app_users": figures.cross_app_users,
        "events_by_app": dict(figures.events_by_app),
        "events_by_type": dict(figures.events_by_type),
        "nudges": {
            "detected": figures.nudges_detected,
            "shown": figures.nudges_shown,
            "converted": figures.nudges_converted,
            "organic": figures.nudges_organic,
        },
        "app_combinations": dict(figures.app_combinations),
    }


def test_the_seed_queries_run_and_the_stats_equal_the_api_figures(flywheel: Container) -> None:
    publish(
        flywheel,
        ("letter.generated", "phoenix-letters", "u1"),
        ("cv.uploaded", "phoenix-cv", "u1"),
        ("letter.generated", "phoenix-letters", "u2"),
        ("cv.generated", "phoenix-cv", "u3"),
    )
    forty_days_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    flywheel.ingestion().publish(
        [
            {
                "event_type": "job_offer.analyzed",
                "app_source": "phoenix-letters",
                "user_id": "u4",
                "timestamp": forty_days_ago,
            }
        ]
    )
    asyncio.run(flywheel.processor().drain())
    (nudge,) = flywheel.queries().list_active_nudges("u2", "phoenix-letters")
    flywheel.queries().record_nudge_shown(nudge.nudge_id)
    url = flywheel.settings().database_url
    stats: dict[int, Any] = {}
    with psycopg.connect(url) as connection:
        for query in SEED_QUERIES:
            connection.execute(query).fetchall()
        for days in (1, 30, 60):
            (stats[days],) = connection.execute(  # type: ignore[misc]
                "SELECT get_phoenix_ecosystem_stats(%s)", (days,)
            ).fetchone()
        journey = connection.execute(
            "SELECT event_type FROM phoenix_user_journey WHERE user_id = 'u1' ORDER BY timestamp"
        ).fetchall()
    for days, figures in stats.items():
        assert figures == as_json_shape(flywheel.queries().get_ecosystem(days)), days
    assert stats[30] == {
        "period_days": 30,
        "total_events": 4,
        "unique_users": 3,
        "cross_app_users": 1,
        "events_by_app": {"phoenix-cv": 2, "phoenix-letters": 2},
        "events_by_type": {"cv.generated": 1, "cv.uploaded": 1, "letter.generated": 2},
        # u1's CV came without the nudge being seen: organic, not converted.
        "nudges": {"detected": 3, "shown": 1, "converted": 0, "organic": 1},
        "app_combinations": {"phoenix-cv+phoenix-letters": 1},
    }
    assert (stats[60]["total_events"], stats[60]["nudges"]["detected"]) == (5, 4)
    assert [row[0] for row in journey] == ["letter.generated", "cv.uploaded"]


def test_the_stats_refuse_a_bad_period(flywheel: Container) -> None:
    with (
        psycopg.connect(flywheel.settings().database_url) as connection,
        pytest.raises(psycopg.errors.RaiseException, match="from 1 to 3650"),
    ):
        connection.execute("SELECT get_phoenix_ecosystem_stats(0)")


def test_nudge_opportunities_come_straight_from_the_events_without_a_worker(
    flywheel: Container,
) -> None:
    publish(
        flywheel,
        ("letter.generated", "phoenix-letters", "writer"),
        ("cv.uploaded", "phoenix-cv", "cv-only"),
        ("cv.uploaded", "phoenix-cv", "both"),
        ("job_offer.analyzed", "phoenix-letters", "both"),
    )
    with psycopg.connect(flywheel.settings().database_url) as connection:
        rows = connection.execute(
            "SELECT user_id, nudge_type, shown_in, target_app, message "
            "FROM phoenix_nudge_opportunities ORDER BY user_id"
        ).fetchall()
    assert rows == [
        (
            "cv-only",
            "cv_to_letters",
            "phoenix-cv",
            "phoenix-letters",
            "Complétez votre candidature avec une lettre Phoenix Letters !",
        ),
        (
            "writer",
            "letters_to_cv",
            "phoenix-letters",
            "phoenix-cv",
            "Optimisez vos chances avec Phoenix CV !",
        ),
    ]


# --- Row-level security, role by role -----------------------------------------------------


@pytest.fixture
def supabase_url(postgres_url: str) -> str:
    """A database set up as Supabase sets one up, then migrated, with a processed sample."""
    make_it_supabase(postgres_url)
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        publish(
            container,
            ("letter.generated", "phoenix-letters", ALICE),
            ("cv.uploaded", "phoenix-cv", BOB),
        )
        asyncio.run(container.processor().drain())
    finally:
        close_flywheel(container)
    return postgres_url


def as_role(url: str, role: str, sub: str | None = None) -> psycopg.Connection[Any]:
    connection = psycopg.connect(url, autocommit=True)
    connection.execute(f"SET ROLE {role}")
    if sub is not None:
        claims = json.dumps({"sub": sub, "role": role})
        connection.execute("SELECT set_config('request.jwt.claims', %s, false)", (claims,))
    return connection


def insert_event(connection: psycopg.Connection[Any], user: str, **columns: object) -> None:
    names = ["event_type", "app_source", "user_id", *columns]
    values = ["cv.generated", "phoenix-cv", user, *columns.values()]
    placeholders = ", ".join(["%s"] * len(values))
    statement = f"INSERT INTO phoenix_events ({', '.join(names)}) VALUES ({placeholders})"  # noqa: S608 - column names are the test's own
    connection.execute(statement, values)


# Columns only the worker writes: an id ahead of the sequence (later inserts would collide
# on the primary key), a status that skips processing, and the rest of the worker's own.
FORGED_COLUMNS = (
    {"id": 10_000},
    {"status": "processed"},
    {"attempts": 3},
    {"received_at": "2020-01-01T00:00:00Z"},
    {"locked_until": "2999-01-01T00:00:00Z"},
    {"processed_at": "2020-01-01T00:00:00Z"},
    {"ai_processing_error": "x"},
    {"locked_by": "worker:1"},
)


def owner_count(url: str, query: str, *params: object) -> int:
    """A count read as the tables' owner, whom row-level security does not limit."""
    with psycopg.connect(url) as connection:
        row = connection.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def test_anon_may_only_insert_events(supabase_url: str) -> None:
    with as_role(supabase_url, "anon") as anon:
        insert_event(anon, "someone")  # what an app holding only the anon key does
        for query in (
            "SELECT * FROM phoenix_events",
            "SELECT count(*) FROM phoenix_events",
            "SELECT * FROM phoenix_nudges",
            "SELECT * FROM phoenix_nudges_sent",
            "SELECT * FROM phoenix_journey_entries",
            "SELECT * FROM phoenix_private.phoenix_projection_tracking",
            "SELECT * FROM phoenix_nudge_opportunities",
            "SELECT * FROM phoenix_user_journey",
            "SELECT get_phoenix_ecosystem_stats(30)",
            "UPDATE phoenix_events SET status = 'processed'",
            "UPDATE phoenix_nudges SET status = 'converted'",
            "DELETE FROM phoenix_events",
            "DELETE FROM phoenix_nudges",
            "TRUNCATE phoenix_events",
            "SELECT setval(pg_get_serial_sequence('phoenix_events', 'id'), 1)",
            "INSERT INTO phoenix_nudges_sent (nudge_id, user_id, app) VALUES ('x', 'y', 'z')",
            "INSERT INTO phoenix_nudges (nudge_id, user_id, nudge_type, shown_in, target_app, "
            "status, detected_at) VALUES ('n', 'u', 't', 'a', 'b', 'active', now())",
            # Reading back what it inserted is a read too: clients insert with
            # returning="minimal".
            "INSERT INTO phoenix_events (event_type, app_source, user_id) "
            "VALUES ('cv.generated', 'phoenix-cv', 'someone') RETURNING id",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                anon.execute(query)
        # It may not choose the worker's columns either: only the event's own fields.
        for forged in FORGED_COLUMNS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                insert_event(anon, "someone", **forged)
    assert owner_count(supabase_url, "SELECT count(*) FROM phoenix_events") == 3
    assert (
        owner_count(
            supabase_url,
            "SELECT count(*) FROM phoenix_events WHERE user_id = 'someone' AND status = 'pending'",
        )
        == 1
    )
    assert owner_count(supabase_url, "SELECT count(*) FROM phoenix_nudges") == 2


def test_an_event_the_anon_key_inserted_is_processed_by_the_worker(supabase_url: str) -> None:
    with as_role(supabase_url, "anon") as anon:
        insert_event(anon, "carol")  # no hash, no status: the worker fills them in
    container = open_flywheel(make_settings(supabase_url), migrate=True)
    try:
        asyncio.run(container.processor().drain())
        nudges = container.queries().list_active_nudges("carol", "phoenix-cv")
    finally:
        close_flywheel(container)
    assert [nudge.nudge_type for nudge in nudges] == ["cv_to_letters"]


def test_an_authenticated_user_sees_and_writes_only_their_own(supabase_url: str) -> None:
    with as_role(supabase_url, "service_role") as service:
        (bobs_nudge,) = service.execute(
            "SELECT nudge_id FROM phoenix_nudges WHERE user_id = %s", (BOB,)
        ).fetchone()  # type: ignore[misc]
    with as_role(supabase_url, "authenticated", sub=ALICE) as alice:
        # Alice wrote letters only; Bob has a CV only: she sees her opportunity, not his.
        opportunities = alice.execute(
            "SELECT user_id, nudge_type FROM phoenix_nudge_opportunities"
        ).fetchall()
        assert opportunities == [(ALICE, "letters_to_cv")]
        insert_event(alice, ALICE)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            insert_event(alice, BOB)
        for forged in FORGED_COLUMNS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                insert_event(alice, ALICE, **forged)
        users = {row[0] for row in alice.execute("SELECT user_id FROM phoenix_events")}
        assert users == {ALICE}
        journey = alice.execute("SELECT user_id, event_type FROM phoenix_user_journey").fetchall()
        assert sorted(journey) == [(ALICE, "cv.generated"), (ALICE, "letter.generated")]
        nudges = alice.execute("SELECT nudge_id, user_id FROM phoenix_nudges").fetchall()
        assert [user for _, user in nudges] == [ALICE]
        assert alice.execute(
            "SELECT count(*) FROM phoenix_nudges WHERE nudge_id = %s", (bobs_nudge,)
        ).fetchone() == (0,)
        alice.execute(
            "INSERT INTO phoenix_nudges_sent (nudge_id, user_id, app) VALUES (%s, %s, %s)",
            (nudges[0][0], ALICE, "phoenix-letters"),
        )
        # Another user's nudge, in her name or in his: refused.
        for user in (ALICE, BOB):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                alice.execute(
                    "INSERT INTO phoenix_nudges_sent (nudge_id, user_id, app) VALUES (%s, %s, %s)",
                    (bobs_nudge, user, "phoenix-cv"),
                )
        # Updating or deleting changes nothing: no privilege to.
        for query in (
            "UPDATE phoenix_events SET user_id = 'x'",
            "DELETE FROM phoenix_events",
            "UPDATE phoenix_nudges SET status = 'converted'",
            "DELETE FROM phoenix_nudges",
            "SELECT * FROM phoenix_nudges_sent",
            "DELETE FROM phoenix_nudges_sent",
            "SELECT * FROM phoenix_journey_entries",
            "SELECT get_phoenix_ecosystem_stats(30)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                alice.execute(query)
    with as_role(supabase_url, "authenticated") as nobody:  # no JWT: auth.uid() is null
        assert nobody.execute("SELECT count(*) FROM phoenix_events").fetchone() == (0,)
        assert nobody.execute("SELECT count(*) FROM phoenix_nudges").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            insert_event(nobody, ALICE)
    assert owner_count(supabase_url, "SELECT count(*) FROM phoenix_events") == 3
    assert owner_count(supabase_url, "SELECT count(*) FROM phoenix_nudges_sent") == 1
    assert (
        owner_count(
            supabase_url,
            "SELECT count(*) FROM phoenix_nudges WHERE status = 'active' AND user_id = %s",
            BOB,
        )
        == 1
    )


def test_the_service_role_does_everything(supabase_url: str) -> None:
    with as_role(supabase_url, "service_role") as service:
        assert service.execute("SELECT count(*) FROM phoenix_events").fetchone() == (2,)
        assert service.execute("SELECT count(*) FROM phoenix_nudges").fetchone() == (2,)
        assert service.execute("SELECT count(*) FROM phoenix_journey_entries").fetchone() == (2,)
        assert service.execute("SELECT count(*) FROM phoenix_nudge_opportunities").fetchone() == (
            2,
        )
        assert service.execute(
            "SELECT count(*) FROM phoenix_user_journey WHERE user_id = %s", (BOB,)
        ).fetchone() == (1,)
        (stats,) = service.execute("SELECT get_phoenix_ecosystem_stats(30)").fetchone()  # type: ignore[misc]
        assert (stats["total_events"], stats["nudges"]["detected"]) == (2, 2)
        (event_id,) = service.execute(
            "INSERT INTO phoenix_events (event_type, app_source, user_id, status, attempts) "
            "VALUES ('cv.generated', 'phoenix-cv', %s, 'failed', 2) RETURNING id",
            (BOB,),
        ).fetchone()  # type: ignore[misc]
        (nudge_id,) = service.execute(
            "SELECT nudge_id FROM phoenix_nudges WHERE user_id = %s", (BOB,)
        ).fetchone()  # type: ignore[misc]
        service.execute(
            "INSERT INTO phoenix_nudges_sent (nudge_id, user_id, app) VALUES (%s, %s, %s)",
            (nudge_id, BOB, "phoenix-cv"),
        )
        service.execute("UPDATE phoenix_events SET status = 'pending' WHERE id = %s", (event_id,))
        service.execute("UPDATE phoenix_nudges SET status = 'converted', converted_at = now()")
        assert service.execute("SELECT count(*) FROM phoenix_nudges_sent").fetchone() == (1,)
        service.execute("DELETE FROM phoenix_nudges_sent")
        service.execute("DELETE FROM phoenix_events WHERE id = %s", (event_id,))
    assert owner_count(supabase_url, "SELECT count(*) FROM phoenix_nudges_sent") == 0
    assert owner_count(supabase_url, "SELECT count(*) FROM phoenix_events") == 2
    assert (
        owner_count(supabase_url, "SELECT count(*) FROM phoenix_nudges WHERE status = 'converted'")
        == 2
    )


def test_the_file_users_paste_is_the_one_migrate_applies() -> None:
    root = Path(__file__).resolve().parents[3]
    pasted = root / "infrastructure/database" / SCHEMA_FILE
    assert pasted.read_text(encoding="utf-8") == postgres_schema_sql()
    # No copy in the source tree: a built package gets the pasted file, put where
    # ``postgres_schema_sql`` looks inside an installed package.
    assert not (root / "src/adapters" / PACKAGED_SCHEMA_DIR).exists()
    build = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["hatch"]
    shipped = build["build"]["targets"]["wheel"]["force-include"]
    inside = f"src/adapters/{PACKAGED_SCHEMA_DIR}/{SCHEMA_FILE}"
    assert shipped == {f"infrastructure/database/{SCHEMA_FILE}": inside}


JOURNEY_TABLES = ("phoenixjourneys_events", "phoenixjourneys_snapshots")


def journey_tables(url: str) -> list[tuple[str, str]]:
    return [
        (str(schema), str(name))
        for schema, name in owner_rows_all(
            url,
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE tablename LIKE 'phoenixjourneys%%' ORDER BY 1, 2",
        )
    ]


def owner_rows_all(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute(query).fetchall()


def test_migrate_moves_the_journeys_an_older_version_kept_in_public(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_it_supabase(postgres_url)
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        publish(container, ("letter.generated", "phoenix-letters", "u1"))
        asyncio.run(container.processor().drain())
    finally:
        close_flywheel(container)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        # As an older version left the database: no private schema (nor what lives in
        # it), eventsourcing's tables and row type in public.
        for table in (*JOURNEY_TABLES, "phoenix_projection_tracking"):
            connection.execute(f"ALTER TABLE phoenix_private.{table} SET SCHEMA public")
        connection.execute("ALTER TYPE phoenix_private.stored_event_uuid SET SCHEMA public")
        connection.execute("DROP SCHEMA phoenix_private CASCADE")
    (stored,) = owner_rows_all(postgres_url, "SELECT count(*) FROM public.phoenixjourneys_events")
    (tracked,) = owner_rows_all(
        postgres_url, "SELECT name, position FROM public.phoenix_projection_tracking"
    )
    # A worker of this version on the old layout says what to do, and changes nothing.
    with pytest.raises(SchemaMissingError, match=r"phoenix_private.*migrate"):
        open_flywheel(make_settings(postgres_url))
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    assert main(["migrate"]) == 0
    assert journey_tables(postgres_url) == [
        ("phoenix_private", "phoenixjourneys_events"),
        ("phoenix_private", "phoenixjourneys_snapshots"),
    ]
    assert owner_rows_all(
        postgres_url, "SELECT count(*) FROM phoenix_private.phoenixjourneys_events"
    ) == [stored]
    assert owner_rows_all(
        postgres_url, "SELECT name, position FROM phoenix_private.phoenix_projection_tracking"
    ) == [tracked]
    assert owner_rows_all(
        postgres_url,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename = 'phoenix_projection_tracking'",
    ) == [(0,)]
    assert main(["migrate"]) == 0  # and again: nothing to move
    container = open_flywheel(make_settings(postgres_url))
    try:
        publish(container, ("cv.uploaded", "phoenix-cv", "u1"))
        asyncio.run(container.processor().drain())
        journey = container.queries().get_journey("u1")
        status = container.queries().get_queue_status()
    finally:
        close_flywheel(container)
    assert [entry.event_type for entry in journey.events] == ["letter.generated", "cv.uploaded"]
    assert (status.processed, status.failed, status.dead) == (2, 0, 0)
