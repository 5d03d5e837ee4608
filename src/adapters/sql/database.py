"""Engines for the two stores, with the options each needs, and the schema's creation.

SQLite: one file shared with eventsourcing's own connection, so WAL mode, a long busy
timeout, and ``BEGIN IMMEDIATE`` (a deferred transaction that later writes can fail with
"database is locked" instead of waiting).
PostgreSQL: psycopg 3 with a connect timeout; prepared statements off when the URL
points at a transaction pooler.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, insert, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.schema import CreateColumn

from src.adapters.sql.lease_fence import FENCE_FUNCTION
from src.adapters.sql.nudge_outcomes import register_sqlite_functions
from src.adapters.sql.tables import (
    PRIVATE_SCHEMA,
    applied_events,
    events,
    journey_entries,
    metadata,
)
from src.adapters.sqlite.recorder import EVENTS_TABLE as SQLITE_JOURNEY_EVENTS
from src.application.errors import SchemaMissingError, StoreUnavailableError

SCHEMA_FILE = "supabase_phoenix_events_clean.sql"
PACKAGED_SCHEMA_DIR = "schema"
"""Where a built package carries the schema file, beside this module."""
REPOSITORY_SCHEMA_DIR = Path(__file__).resolve().parents[3] / "infrastructure" / "database"
MIGRATION_LOCK_KEY = 0x70686F656E6978  # "phoenix", the advisory lock `migrate` holds
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_BEGIN = "sqlite_begin"
CONNECT_TIMEOUT_SECONDS = 5
STORE_FUNCTIONS = (
    FENCE_FUNCTION,
    "phoenix_active_nudges(text, text, text)",
    "phoenix_mark_nudge_shown(text, text)",
    "phoenix_private.phoenix_events_check_catalogue()",
    "phoenix_scaling_signal()",
)
"""The schema file's functions the code calls on PostgreSQL (the fence, the nudge board's
two, the insert check's trigger function, the scaling signal of ``/metrics``): a store an
older version made lacks them.
Without the catalogue check the store would take any event, since ingestion leaves that
check to the store there."""


def store_kind(database_url: str) -> str:
    """``sqlite`` or ``postgresql``; anything else is refused with the accepted forms."""
    scheme = database_url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise ValueError(
        f"DATABASE_URL must start with sqlite:/// or postgresql:// (got {redact(database_url)!r})"
    )


def sqlalchemy_url(database_url: str) -> URL:
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if not url.database or url.database == ":memory:":
        raise ValueError("DATABASE_URL: an SQLite store needs a file, e.g. sqlite:///flywheel.db")
    return url


def redact(database_url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as its scheme only
        return database_url.split(":", 1)[0] + "://…"


def is_transaction_pooler(url: URL) -> bool:
    """Supabase's transaction pooler listens on 6543; ``?pooler=transaction`` forces it."""
    return url.port == 6543 or url.query.get("pooler") == "transaction"


def create_postgres_engine(database_url: str, pool_size: int = 5) -> Engine:
    url = sqlalchemy_url(database_url)
    # No server-side prepared statements: they break behind a transaction pooler, and a
    # generic plan made while the event store was empty (a sequential scan) would be
    # kept as it grows. Planning each query afresh costs far less than that scan.
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "prepare_threshold": None,
    }
    if not is_transaction_pooler(url):
        # JIT compiles a query whose estimated cost passes jit_above_cost, which the
        # batch's journey load does while the journey table's statistics are stale:
        # compiling then costs several times the query, every batch. These statements
        # are all short; none gains from it. (A transaction pooler refuses startup
        # options.)
        connect_args["options"] = "-c jit=off"
    return create_engine(
        url.difference_update_query(["pooler"]),
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


def create_sqlite_engine(database_url: str) -> Engine:
    url = sqlalchemy_url(database_url)
    path = Path(url.database or "")
    if path.parent and not path.parent.exists():
        raise StoreUnavailableError(
            f"cannot open the SQLite store: folder {path.parent} is missing"
        )
    base = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(base, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(base, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    # One file, no schemas: the private schema's tables live beside the others.
    return base.execution_options(schema_translate_map={PRIVATE_SCHEMA: None})


def read_connection(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite it does not take the write lock, so reads
    (the API's queries, the queue status) never wait for the worker's writes (WAL mode)."""
    return engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"})


def ping(engine: Engine) -> str | None:
    """None when the store answers, else the reason; no transaction, so no lock taken."""
    try:
        connection = engine.raw_connection()
    except SQLAlchemyError as error:
        return _reason(error)
    except Exception as error:  # noqa: BLE001 - raw_connection lets driver errors through
        return str(error).strip().splitlines()[0] or type(error).__name__
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
    except Exception as error:  # noqa: BLE001 - any driver error means "not answering"
        connection.invalidate()
        return str(error).strip().splitlines()[0]
    finally:
        connection.close()
    return None


def _reason(error: SQLAlchemyError) -> str:
    original = getattr(error, "orig", None)
    return (str(original) if original else str(error)).strip().splitlines()[0]


def check_reachable(engine: Engine, database_url: str) -> None:
    """Fail with a clear message, not a driver traceback, when the store cannot be reached."""
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        raise StoreUnavailableError(
            f"cannot reach the store at {redact(database_url)}: {_reason(error)}"
        ) from None


def create_schema(engine: Engine) -> list[str]:
    """Create missing tables and indexes (idempotent); returns the tables it created.

    PostgreSQL gets the SQL file a Supabase user pastes into the SQL editor, so both
    paths build the same schema, row-level security included; SQLite gets the
    SQLAlchemy tables it mirrors.
    """
    if engine.dialect.name != "postgresql":
        missing = _missing_tables(engine)
        metadata.create_all(engine, checkfirst=True)
        _add_missing_columns(engine, {t.name for t in metadata.tables.values()} - set(missing))
        _drop_retired_columns(engine)
        _drop_retired_indexes(engine)
        # create_all adds indexes only with the tables it creates: an index a newer
        # version added to an existing table is created here.
        for table in metadata.tables.values():
            for index in table.indexes:
                index.create(engine, checkfirst=True)
        if applied_events.name in missing:
            _fill_applied_events(engine)
        return missing
    with engine.begin() as connection:
        # One migration at a time (workers started together all migrate): concurrent
        # CREATE OR REPLACE of the same function fails with "tuple concurrently updated".
        # The lock is the transaction's, released at its end.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        missing = _missing_tables(connection)
        # Straight to the driver without parameters, so the file's '%' stay literal.
        cursor = connection.connection.cursor()
        cursor.execute(postgres_schema_sql())
        cursor.close()
    return missing


_SQLITE_APPLIED_FROM_JOURNEYS = f"""
INSERT OR IGNORE INTO {applied_events.name} (user_id, event_hash)
SELECT json_extract(activity, '$.user_id'), json_extract(activity, '$.event_hash')
FROM (
    SELECT CAST(state AS TEXT) AS activity FROM {SQLITE_JOURNEY_EVENTS}
    WHERE substr(state, 1, 1) = CAST('{{' AS BLOB)
) AS stored
WHERE json_valid(activity)
  AND json_extract(activity, '$.event_hash') IS NOT NULL
  AND json_extract(activity, '$.user_id') IS NOT NULL
"""  # noqa: S608 - names from sql.tables and the journeys' recorder


def _fill_applied_events(engine: Engine) -> None:
    """The applied events of a store an older version made, as the SQL file fills them:
    from the journeys' read model, and from the journeys' own events (an activity's
    stored state is its JSON), which the read model may lag after a crash."""
    with engine.begin() as connection:
        connection.execute(
            insert(applied_events)
            .from_select(
                ["user_id", "event_hash"],
                select(journey_entries.c.user_id, journey_entries.c.event_hash),
            )
            .prefix_with("OR IGNORE")
        )
        if inspect(connection).has_table(SQLITE_JOURNEY_EVENTS):
            connection.exec_driver_sql(_SQLITE_APPLIED_FROM_JOURNEYS)


def _missing_tables(bind: Engine | Connection) -> list[str]:
    """The flywheel's tables the store lacks, by name (schema-qualified where it has one)."""
    inspector = inspect(bind)
    postgres = bind.dialect.name == "postgresql"
    return [
        f"{table.schema}.{table.name}" if table.schema and postgres else table.name
        for table in metadata.tables.values()
        if not inspector.has_table(table.name, schema=table.schema if postgres else None)
    ]


def _add_missing_columns(engine: Engine, tables: set[str]) -> None:
    """Columns a newer version added to a table an older one created (SQLite only:
    the PostgreSQL file adds its own). Such columns are nullable, so no row needs a value."""
    missing = _missing_columns(engine, tables)  # read first: the ALTERs take the write lock
    if not missing:
        return
    with engine.begin() as connection:
        for table, column in missing:
            definition = CreateColumn(table.c[column]).compile(dialect=engine.dialect)
            connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {definition}")


RETIRED_COLUMNS = {"phoenix_nudge_variants": ("attribution_days",)}
"""Columns an older version made that the code no longer writes (SQLite only: the
PostgreSQL file drops its own). ``attribution_days``: the window is a setting now."""


def _drop_retired_columns(engine: Engine) -> None:
    inspector = inspect(engine)
    retired = [
        (table, column)
        for table, columns in RETIRED_COLUMNS.items()
        if inspector.has_table(table)
        for column in columns
        if column in {c["name"] for c in inspector.get_columns(table)}
    ]
    if not retired:
        return
    with engine.begin() as connection:
        for table, column in retired:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')


RETIRED_INDEXES = ("ix_phoenix_events_user_processing",)
"""Indexes an older version made on ``phoenix_events`` that cost every write of an event
and that another index serves (SQLite only: the PostgreSQL file drops its own)."""


def _drop_retired_indexes(engine: Engine) -> None:
    present = {index["name"] for index in inspect(engine).get_indexes(events.name)}
    retired = [name for name in RETIRED_INDEXES if name in present]
    if not retired:
        return
    with engine.begin() as connection:
        for name in retired:
            connection.exec_driver_sql(f'DROP INDEX "{name}"')


def _missing_columns(engine: Engine, tables: set[str]) -> list[tuple[Table, str]]:
    """The columns each of ``tables`` (by name) lacks, as (table, column name) pairs."""
    inspector = inspect(engine)
    postgres = engine.dialect.name == "postgresql"
    missing: list[tuple[Table, str]] = []
    for table in metadata.tables.values():
        if table.name in tables:
            schema = table.schema if postgres else None
            present = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
            missing += [(table, c.name) for c in table.columns if c.name not in present]
    return missing


def _missing_functions(engine: Engine) -> list[str]:
    """Which of ``STORE_FUNCTIONS`` a PostgreSQL store lacks (SQLite needs none)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as connection:
        return [
            name
            for name in STORE_FUNCTIONS
            if connection.exec_driver_sql(
                "SELECT to_regprocedure(%(name)s) IS NULL", {"name": name}
            ).scalar()
        ]


def postgres_schema_sql() -> str:
    """The text of ``infrastructure/database/supabase_phoenix_events_clean.sql``.

    There is one file, where users find it to paste into Supabase. A built package (a
    wheel, the Docker image) carries it inside as ``src/adapters/schema/`` (hatch's
    ``force-include`` in ``pyproject.toml``), so ``migrate`` finds it with no repository
    around; an editable install or a checkout reads it where it lies.
    """
    packaged = resources.files("src.adapters") / PACKAGED_SCHEMA_DIR / SCHEMA_FILE
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (REPOSITORY_SCHEMA_DIR / SCHEMA_FILE).read_text(encoding="utf-8")


def check_schema(engine: Engine) -> None:
    """Raise ``SchemaMissingError`` naming the fix when a table of the flywheel is absent."""
    try:
        missing = _missing_tables(engine)
    except SQLAlchemyError as error:
        raise StoreUnavailableError(f"cannot read the store's tables: {error}") from None
    what = f"no table {', '.join(missing)}"
    if not missing:
        # Tables an older version made lack the columns a newer one added.
        try:
            columns = _missing_columns(engine, {t.name for t in metadata.tables.values()})
            functions = _missing_functions(engine)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"cannot read the store's tables: {error}") from None
        missing = [f"{table.name}.{column}" for table, column in columns]
        what = f"no column {', '.join(missing)}"
        if not missing and functions:
            missing, what = functions, f"no function {', '.join(functions)}"
    if missing:
        raise SchemaMissingError(
            f"the store has {what}: run `phoenix-flywheel migrate` "
            "(or paste infrastructure/database/supabase_phoenix_events_clean.sql into the "
            "Supabase SQL editor)"
        )
