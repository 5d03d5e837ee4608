"""The SQL schema the adapters use, as SQLAlchemy tables.

SQLite is created from these tables; PostgreSQL from the file Supabase users paste
(``infrastructure/database/supabase_phoenix_events_clean.sql``), which a test holds to the
same columns.

Timestamps are stored in UTC. SQLite has no time-zone type, so ``UtcDateTime`` stores
naive UTC there and hands back aware datetimes everywhere, keeping comparisons right.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator

from src.application.ports.inbox import STATUSES


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class utcnow(FunctionElement[datetime]):  # noqa: N801 - reads as the SQL function it renders
    """The database's current UTC time, as a column default clients that omit it get."""

    type = UtcDateTime()
    inherit_cache = True


@compiles(utcnow, "postgresql")
def _utcnow_postgresql(element: utcnow, compiler: SQLCompiler, **kw: Any) -> str:
    return "now()"


@compiles(utcnow, "sqlite")
def _utcnow_sqlite(element: utcnow, compiler: SQLCompiler, **kw: Any) -> str:
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now'))"


# What only the worker keeps lives here on PostgreSQL: a schema that Supabase's REST API
# does not serve (the SQL file creates it; eventsourcing's tables go there too). SQLite has
# no schemas: its engine maps this one to the main database.
PRIVATE_SCHEMA = "phoenix_private"

ERROR_LIMIT = 4000
"""Characters of an error kept in ``ai_processing_error``."""

metadata = MetaData()
Id = BigInteger().with_variant(Integer, "sqlite")
Payload = JSON().with_variant(JSONB(), "postgresql")
_status_list = ", ".join(f"'{status}'" for status in STATUSES)

events = Table(
    "phoenix_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_type", Text, nullable=False),
    Column("app_source", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("payload", Payload, nullable=False, server_default=text("'{}'")),
    Column("timestamp", UtcDateTime, nullable=False, server_default=utcnow()),
    Column("received_at", UtcDateTime, nullable=False, server_default=utcnow()),
    Column("idempotency_key", Text),
    Column("event_hash", Text, unique=True),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", UtcDateTime),
    Column("processed_at", UtcDateTime),
    Column("ai_processing_error", Text),
    # Who holds the lease (a worker's batch; once the event is finished, the batch that
    # finished it): its heartbeat renews it, a worker that lost its connection mid-batch
    # gives its claims back by this name, and a commit holds only while its batch's name
    # is still there (``lease_fence``). Last, because `migrate` adds it to older tables at
    # the end.
    Column("locked_by", Text),
    CheckConstraint(f"status IN ({_status_list})", name="phoenix_events_status_check"),
    # The claim scans unfinished rows in id order; finished rows stay out of this index.
    Index(
        "ix_phoenix_events_claimable",
        "id",
        postgresql_where=text("status IN ('pending', 'failed', 'processing')"),
        sqlite_where=text("status IN ('pending', 'failed', 'processing')"),
    ),
    # The events in a worker's hands: its heartbeat finds those it holds by name, and
    # the claim reads all of them (their users are left to their batches' workers). The
    # only index on them: every claimed row version writes an entry in each.
    Index(
        "ix_phoenix_events_locked_by",
        "locked_by",
        postgresql_where=text("status = 'processing'"),
        sqlite_where=text("status = 'processing'"),
    ),
    Index("ix_phoenix_events_user_timestamp", "user_id", "timestamp"),
    # The latest events first, the deployment guide's first look at the inbox.
    Index("ix_phoenix_events_timestamp", "timestamp"),
    # Events finished per minute, and the batches that finished them: the throughput of
    # every worker, for the dashboard and /metrics.
    Index(
        "ix_phoenix_events_processed_at",
        "processed_at",
        "status",
        "locked_by",
        postgresql_where=text("processed_at IS NOT NULL"),
        sqlite_where=text("processed_at IS NOT NULL"),
    ),
)

journey_entries = Table(
    "phoenix_journey_entries",
    metadata,
    Column("event_hash", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("app_source", Text, nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),
    Index("ix_phoenix_journey_entries_user", "user_id", "timestamp"),
    Index("ix_phoenix_journey_entries_timestamp", "timestamp"),
)

nudges = Table(
    "phoenix_nudges",
    metadata,
    Column("nudge_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("nudge_type", Text, nullable=False),
    Column("shown_in", Text, nullable=False),
    Column("target_app", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("detected_at", UtcDateTime, nullable=False),
    Column("converted_at", UtcDateTime),
    # The message variant chosen at detection ('' for nudges detected before experiments).
    # Last, as ``ALTER TABLE ... ADD COLUMN`` puts it on an upgraded store.
    Column("variant", Text, nullable=False, server_default=text("''")),
    # Its place when nudges compete for the daily cap, drawn at detection, higher first
    # (src/domain/nudge_choice.py); 0 for nudges detected before nudges were ranked.
    Column("rank", Float, nullable=False, server_default=text("0")),
    Index("ix_phoenix_nudges_user_app", "user_id", "shown_in", "status"),
)

nudges_sent = Table(
    "phoenix_nudges_sent",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("nudge_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("app", Text, nullable=False),
    Column("shown_at", UtcDateTime, nullable=False, server_default=utcnow()),
    Index("ix_phoenix_nudges_sent_nudge", "nudge_id", "shown_at"),
    # The daily cap: what a user was shown in an app lately.
    Index("ix_phoenix_nudges_sent_user_app", "user_id", "app", "shown_at"),
)

# The experiments the worker runs (the app modules', or an experiments file), published
# at each start so SQL readers (the nudges to show, the results view) know the variants
# and their messages without reading the worker's settings.
nudge_variants = Table(
    "phoenix_nudge_variants",
    metadata,
    Column("nudge_type", Text, primary_key=True),
    Column("variant", Text, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("mode", Text, nullable=False),
    Column("weight", Float, nullable=False),
    Column("messages", Payload, nullable=False),
)

# The values the nudge rules need (NUDGE_COOLDOWN_HOURS, NUDGE_MAX_PER_DAY,
# NUDGE_ATTRIBUTION_DAYS): one row, written at each start, read by every path.
nudge_settings = Table(
    "phoenix_nudge_settings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False, server_default=text("1")),
    Column("cooldown_hours", Float, nullable=False),
    Column("max_per_day", Integer, nullable=False),
    Column("attribution_days", Integer, nullable=False),
    CheckConstraint("id = 1", name="phoenix_nudge_settings_one_row"),
)

# The worker settings the scaling signal needs (EVENT_BATCH_SIZE): one row, written by
# `migrate` and at each start of a worker, read by whoever asks for the signal.
worker_settings = Table(
    "phoenix_worker_settings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False, server_default=text("1")),
    Column("batch_size", Integer, nullable=False),
    CheckConstraint("id = 1", name="phoenix_worker_settings_one_row"),
    CheckConstraint("batch_size >= 1", name="phoenix_worker_settings_batch_size_check"),
)

# The catalogue of the app modules, written at each start: the store's insert check of
# new events and the degraded mode read it.
apps = Table(
    "phoenix_apps",
    metadata,
    Column("app_source", Text, primary_key=True),
    Column("title", Text, nullable=False),
)

event_types = Table(
    "phoenix_event_types",
    metadata,
    Column("event_type", Text, primary_key=True),
    Column("app_source", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    # Each declared payload field: name, kind, bounds, and what each failure says.
    Column("payload_fields", Payload, nullable=False, server_default=text("'[]'")),
)

nudge_types = Table(
    "phoenix_nudge_types",
    metadata,
    Column("nudge_type", Text, primary_key=True),
    Column("shown_in", Text, nullable=False),
    Column("target_app", Text, nullable=False),
    # cross_app: the events alone decide it (the degraded mode offers it); journey: only
    # the worker can.
    Column("kind", Text, nullable=False),
    # The default wording, shown when no experiment runs on the nudge type.
    Column("messages", Payload, nullable=False),
)

projection_tracking = Table(
    "phoenix_projection_tracking",
    metadata,
    Column("name", Text, primary_key=True),
    Column("position", BigInteger, nullable=False),
    schema=PRIVATE_SCHEMA,
)
ERASURES_TRACKING = "erasures"
"""The tracking row that counts the users forgotten so far: every erasure moves it on by
one in its own transaction (the row appears with the first), and a worker reads it with
each batch's journeys to tell whether the journeys it holds in memory may be trusted
(``JourneyApplication.load_journeys``). A count only: it keeps no trace of whom."""

# The source events each user's journey has applied, one row per (user, event hash): the
# journeys' save inserts its pairs in the commit that stores their events, so the key
# refuses a second application of an event whatever the worker or the moment. Written
# and read by the worker alone, hence private.
applied_events = Table(
    "phoenix_applied_events",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("event_hash", Text, primary_key=True),
    schema=PRIVATE_SCHEMA,
)

# The degraded mode's opportunities as they were offered to an app before the worker
# detected them: a display of one is recorded under the id the worker will give the nudge,
# and the worker keeps the wording the user saw. Written by the store's own functions.
nudge_offers = Table(
    "phoenix_nudge_offers",
    metadata,
    Column("nudge_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("nudge_type", Text, nullable=False),
    Column("shown_in", Text, nullable=False),
    Column("target_app", Text, nullable=False),
    Column("variant", Text, nullable=False),
    Column("offered_at", UtcDateTime, nullable=False, server_default=utcnow()),
    Index("ix_phoenix_nudge_offers_user", "user_id"),
    schema=PRIVATE_SCHEMA,
)

# The skills a language model read from an offer's or a CV's text, so an event processed
# again (or by a restarted worker) never asks the model again. The key holds the text's
# hash, never the text. The worker's alone, hence private; forgetting a user erases them.
skills_extractions = Table(
    "phoenix_skills_extractions",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("model", Text, primary_key=True),
    Column("prompt_version", Text, primary_key=True),
    Column("input_sha256", Text, primary_key=True),
    Column("skills", Payload, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, server_default=utcnow()),
    schema=PRIVATE_SCHEMA,
)

# What the worker's analysers learnt from a user's events, one row per insight, saved in
# the commit of the batch whose event raised it; the id derives from the kind and the
# source events' hashes.
insights = Table(
    "phoenix_insights",
    metadata,
    Column("insight_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("source_hashes", Payload, nullable=False, server_default=text("'[]'")),
    Column("data", Payload, nullable=False, server_default=text("'{}'")),
    # The message per language ("fr", "en").
    Column("messages", Payload, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_phoenix_insights_user", "user_id", "created_at"),
)

# The skills the skills-gap analyser noted from each offer and CV of a user, so that an
# offer meets the latest CV whichever came first. The worker's alone, hence private.
skill_profiles = Table(
    "phoenix_skill_profiles",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("source_id", Text, primary_key=True),
    Column("event_hash", Text, nullable=False),
    Column("skills", Payload, nullable=False, server_default=text("'[]'")),
    Column("title", Text, nullable=False, server_default=text("''")),
    Column("company", Text, nullable=False, server_default=text("''")),
    Column("noted_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('offer', 'cv')", name="phoenix_skill_profiles_kind"),
    schema=PRIVATE_SCHEMA,
)
