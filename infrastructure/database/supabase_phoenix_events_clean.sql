-- Phoenix Flywheel: the event store, nudges and analytics, for Supabase (PostgreSQL 15).
--
-- Paste this file into the Supabase SQL editor, or run `phoenix-flywheel migrate` with
-- DATABASE_URL pointing at the database. It is idempotent: running it again changes
-- nothing. On a plain PostgreSQL (no Supabase roles) the role-specific part is skipped.
--
-- Who may do what (row-level security and column grants):
--   anon           may only INSERT events, and only their own fields (event_type,
--                  app_source, user_id, payload, timestamp, idempotency_key, event_hash);
--                  reads nothing.
--   authenticated  the same for its own user (auth.uid()), reads its own events and
--                  nudges and the nudges' wordings (the experiments' variants, no user
--                  data), and records that one of its nudges was shown.
--   service_role   everything in public (admin tools).
-- The worker itself connects as the tables' owner, which row-level security does not limit.
-- What only the worker keeps (its journeys' event store and snapshots, written by the
-- eventsourcing library, and its projection's position) lives in the schema
-- phoenix_private, which Supabase's REST API does not serve and on which anon and
-- authenticated have no right at all.
--
-- The tables are those of src/adapters/sql_tables.py, column for column (a test compares
-- the catalog with SQLAlchemy's create_all). `migrate` applies this very file: a built
-- package carries it inside (hatch's force-include in pyproject.toml); there is no copy.

-- The worker's private schema ----------------------------------------------------------
-- eventsourcing creates its tables here (POSTGRES_SCHEMA), after this file has run. An
-- older version kept them, and the projection's tracking table, in public: they are
-- moved, rows, indexes, sequences and policies with them.

CREATE SCHEMA IF NOT EXISTS phoenix_private;
REVOKE ALL ON SCHEMA phoenix_private FROM PUBLIC;

DO $private$
DECLARE
    moved text;
BEGIN
    FOREACH moved IN ARRAY ARRAY[
        'phoenixjourneys_events', 'phoenixjourneys_snapshots', 'phoenix_projection_tracking'
    ] LOOP
        IF to_regclass(format('public.%I', moved)) IS NOT NULL THEN
            IF to_regclass(format('phoenix_private.%I', moved)) IS NULL THEN
                EXECUTE format('ALTER TABLE public.%I SET SCHEMA phoenix_private', moved);
            ELSE  -- both: the worker uses the private one; the old one is kept, shut
                EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', moved);
                RAISE WARNING 'public.% is no longer used (phoenix_private.% is): drop it',
                    moved, moved;
            END IF;
        END IF;
    END LOOP;
    -- The row type eventsourcing casts its inserts to follows its tables.
    IF to_regtype('public.stored_event_uuid') IS NOT NULL
       AND to_regtype('phoenix_private.stored_event_uuid') IS NULL THEN
        ALTER TYPE public.stored_event_uuid SET SCHEMA phoenix_private;
    END IF;
END
$private$;

-- Tables ------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS phoenix_events (
    id                  bigserial PRIMARY KEY,
    event_type          text        NOT NULL,
    app_source          text        NOT NULL,
    user_id             text        NOT NULL,
    payload             jsonb       NOT NULL DEFAULT '{}',
    "timestamp"         timestamptz NOT NULL DEFAULT now(),
    received_at         timestamptz NOT NULL DEFAULT now(),
    idempotency_key     text,
    event_hash          text UNIQUE,
    status              text        NOT NULL DEFAULT 'pending',
    attempts            integer     NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    processed_at        timestamptz,
    ai_processing_error text,
    locked_by           text,
    CONSTRAINT phoenix_events_status_check CHECK (
        status IN ('pending', 'processing', 'processed', 'duplicate', 'failed', 'dead')
    )
);
COMMENT ON TABLE phoenix_events IS
    'Phoenix apps'' user events (the inbox of the flywheel). event_hash = SHA-256 of the canonical JSON of {event_type, app_source, user_id, payload, idempotency_key}.';

-- Columns added after the first release, for tables an older version of this file made
-- (checked first: ALTER TABLE would lock the table even when there is nothing to add).
-- locked_by: the worker batch holding the event's lease; it renews that lease while it
-- works and gives the batch back if it loses its connection.
DO $columns$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = 'phoenix_events'::regclass AND attname = 'locked_by'
            AND NOT attisdropped
    ) THEN
        ALTER TABLE phoenix_events ADD COLUMN locked_by text;
    END IF;
END
$columns$;

-- The worker's claim scans unfinished events in id order; finished ones stay out.
CREATE INDEX IF NOT EXISTS ix_phoenix_events_claimable
    ON phoenix_events (id) WHERE status IN ('pending', 'failed', 'processing');
-- Users with a batch in hand: the claim leaves their other events to that batch's worker.
CREATE INDEX IF NOT EXISTS ix_phoenix_events_user_processing
    ON phoenix_events (user_id) WHERE status = 'processing';
-- A worker's heartbeat finds the events it holds.
CREATE INDEX IF NOT EXISTS ix_phoenix_events_locked_by
    ON phoenix_events (locked_by) WHERE status = 'processing';
CREATE INDEX IF NOT EXISTS ix_phoenix_events_user_timestamp ON phoenix_events (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS ix_phoenix_events_timestamp ON phoenix_events ("timestamp");

-- The journey read model: one row per processed event, fed by the worker's projection.
CREATE TABLE IF NOT EXISTS phoenix_journey_entries (
    event_hash  text PRIMARY KEY,
    user_id     text        NOT NULL,
    event_type  text        NOT NULL,
    app_source  text        NOT NULL,
    "timestamp" timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_phoenix_journey_entries_user ON phoenix_journey_entries (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS ix_phoenix_journey_entries_timestamp ON phoenix_journey_entries ("timestamp");

-- Nudges the worker detected; status 'active' until the user acts in target_app.
CREATE TABLE IF NOT EXISTS phoenix_nudges (
    nudge_id     text PRIMARY KEY,
    user_id      text        NOT NULL,
    nudge_type   text        NOT NULL,
    shown_in     text        NOT NULL,
    target_app   text        NOT NULL,
    status       text        NOT NULL,
    detected_at  timestamptz NOT NULL,
    converted_at timestamptz,
    variant      text        NOT NULL DEFAULT ''
);
-- The message variant chosen at detection ('' for nudges detected before experiments);
-- added in place to a table made by an older version of this file.
ALTER TABLE phoenix_nudges ADD COLUMN IF NOT EXISTS variant text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS ix_phoenix_nudges_user_app ON phoenix_nudges (user_id, shown_in, status);

-- Each display of a nudge (the cooldown and the "shown" figure read it).
CREATE TABLE IF NOT EXISTS phoenix_nudges_sent (
    id       bigserial PRIMARY KEY,
    nudge_id text        NOT NULL,
    user_id  text        NOT NULL,
    app      text        NOT NULL,
    shown_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_phoenix_nudges_sent_nudge ON phoenix_nudges_sent (nudge_id, shown_at);
-- The daily cap: what a user was shown in an app lately.
CREATE INDEX IF NOT EXISTS ix_phoenix_nudges_sent_user_app ON phoenix_nudges_sent (user_id, app, shown_at);

-- The experiments on the nudge messages, as the worker runs them (its experiments file,
-- NUDGE_ATTRIBUTION_DAYS): published at each start, read by the results view below.
CREATE TABLE IF NOT EXISTS phoenix_nudge_variants (
    nudge_type       text             NOT NULL,
    variant          text             NOT NULL,
    position         integer          NOT NULL,
    mode             text             NOT NULL,
    weight           double precision NOT NULL,
    messages         jsonb            NOT NULL,
    attribution_days integer          NOT NULL,
    PRIMARY KEY (nudge_type, variant)
);

-- Where the worker's projection stands in the journeys' notification log.
CREATE TABLE IF NOT EXISTS phoenix_private.phoenix_projection_tracking (
    name     text PRIMARY KEY,
    position bigint NOT NULL
);

-- The source events each user's journey has applied, one row per (user, event hash): the
-- worker inserts a batch's pairs in the commit that saves its journeys, so the key refuses
-- an event applied twice (a re-claimed or re-processed one), whatever the worker.
-- A database an older version made has no such table: it is filled from the journeys'
-- read model (one row per applied event) and from the journeys' own stored events, which
-- the read model may lag after a crash.
DO $applied$
BEGIN
    IF to_regclass('phoenix_private.phoenix_applied_events') IS NULL THEN
        CREATE TABLE phoenix_private.phoenix_applied_events (
            user_id    text NOT NULL,
            event_hash text NOT NULL,
            PRIMARY KEY (user_id, event_hash)
        );
        INSERT INTO phoenix_private.phoenix_applied_events (user_id, event_hash)
        SELECT user_id, event_hash FROM phoenix_journey_entries
        ON CONFLICT DO NOTHING;
        IF to_regclass('phoenix_private.phoenixjourneys_events') IS NOT NULL THEN
            -- An activity's stored state is its JSON, with the user and the event's hash.
            INSERT INTO phoenix_private.phoenix_applied_events (user_id, event_hash)
            SELECT activity ->> 'user_id', activity ->> 'event_hash'
            FROM (
                SELECT convert_from(state, 'UTF8')::jsonb AS activity
                FROM phoenix_private.phoenixjourneys_events
                WHERE get_byte(state, 0) = 123  -- '{': JSON, neither compressed nor ciphered
            ) AS stored
            WHERE activity ? 'event_hash' AND activity ? 'user_id'
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
END
$applied$;

-- What became of each nudge: its exposure (the first display, unless the user had already
-- reached the target), and whether reaching the target counts as the nudge's conversion
-- (after the exposure, within the attribution window the worker published) or as
-- organic. The same rules as GET /api/experiments and /api/analytics/ecosystem.
DO $outcomes$
BEGIN
    IF to_regclass('phoenix_nudge_outcomes') IS NOT NULL AND (
        SELECT jsonb_agg(attname::text ORDER BY attnum) FROM pg_attribute
        WHERE attrelid = to_regclass('phoenix_nudge_outcomes') AND attnum > 0
          AND NOT attisdropped
    ) IS DISTINCT FROM '["nudge_id", "user_id", "nudge_type", "variant", "detected_at",
        "reached_at", "exposed_at", "converted", "organic"]'::jsonb THEN
        DROP VIEW phoenix_nudge_outcomes CASCADE;
    END IF;
END
$outcomes$;
CREATE OR REPLACE VIEW phoenix_nudge_outcomes WITH (security_invoker = true) AS
WITH settings AS (
    SELECT coalesce(max(attribution_days), 7) AS attribution_days FROM phoenix_nudge_variants
), first_shown AS (
    SELECT nudge_id, min(shown_at) AS shown_at FROM phoenix_nudges_sent GROUP BY nudge_id
), classified AS (
    SELECT n.nudge_id, n.user_id, n.nudge_type, n.variant, n.detected_at,
           n.converted_at AS reached_at,
           CASE WHEN f.shown_at <= coalesce(n.converted_at, 'infinity') THEN f.shown_at
           END AS exposed_at,
           coalesce(f.shown_at <= n.converted_at
                    AND n.converted_at <= f.shown_at + s.attribution_days * interval '1 day',
                    false) AS converted
    FROM phoenix_nudges AS n
    CROSS JOIN settings AS s
    LEFT JOIN first_shown AS f ON f.nudge_id = n.nudge_id
)
SELECT nudge_id, user_id, nudge_type, variant, detected_at, reached_at, exposed_at,
       converted, reached_at IS NOT NULL AND NOT converted AS organic
FROM classified;

-- New events wake the workers at once (LISTEN phoenix_events_inserted) -----------------

CREATE OR REPLACE FUNCTION phoenix_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('phoenix_events_inserted', '');
    RETURN NULL;
END
$$;
DO $trigger$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger
        WHERE tgrelid = 'phoenix_events'::regclass AND tgname = 'phoenix_events_inserted'
    ) THEN
        CREATE TRIGGER phoenix_events_inserted
            AFTER INSERT ON phoenix_events
            FOR EACH STATEMENT EXECUTE FUNCTION phoenix_events_notify();
    END IF;
END
$trigger$;

-- Rows the worker could not read back are refused on the way in, from every role: a
-- timestamp out of what Python's datetime holds (infinity, beyond year 9999, BC; a day
-- of margin either side for any session time zone: FIRST_READABLE and LAST_READABLE in
-- src/domain/events.py, which ingest checks first), a payload that is not a JSON object
-- or is nested more than 64 levels deep (MAX_PAYLOAD_DEPTH in src/domain/events.py).
-- Inserts only, so rows already stored stay updatable. The depth test is one jsonpath
-- walk in C, cheap even on a 64 KiB payload.

CREATE OR REPLACE FUNCTION phoenix_private.phoenix_events_check_new() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NOT (NEW."timestamp" >= '0001-01-02 00:00:00+00'
            AND NEW."timestamp" < '9999-12-31 00:00:00+00') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = format('phoenix_events.timestamp %s is out of range', NEW."timestamp"),
            HINT = 'a timestamp from 0001-01-02 to 9999-12-30 (UTC)';
    END IF;
    IF jsonb_typeof(NEW.payload) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = 'phoenix_events.payload must be a JSON object',
            HINT = format('got a JSON %s', jsonb_typeof(NEW.payload));
    END IF;
    IF jsonb_path_exists(
        NEW.payload, 'strict $.**{64} ? (@.type() == "object" || @.type() == "array")'
    ) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = 'phoenix_events.payload is nested more than 64 levels deep',
            HINT = 'at most 64 levels of objects and arrays';
    END IF;
    RETURN NEW;
END
$$;
DO $trigger$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger
        WHERE tgrelid = 'phoenix_events'::regclass AND tgname = 'phoenix_events_check_new'
    ) THEN
        CREATE TRIGGER phoenix_events_check_new
            BEFORE INSERT ON phoenix_events
            FOR EACH ROW EXECUTE FUNCTION phoenix_private.phoenix_events_check_new();
    END IF;
END
$trigger$;

-- Analytics: the same figures as GET /api/analytics/ecosystem?days=N --------------------

CREATE OR REPLACE FUNCTION get_phoenix_ecosystem_stats(days integer DEFAULT 30)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
    since timestamptz;
BEGIN
    IF days IS NULL OR days < 1 OR days > 3650 THEN
        RAISE EXCEPTION 'days must be a whole number of days from 1 to 3650, not %', days;
    END IF;
    since := now() - days * interval '1 day';
    RETURN (
        WITH RECURSIVE recent AS (
            SELECT user_id, app_source, event_type
            FROM phoenix_journey_entries WHERE "timestamp" >= since
        ),
        -- Every combination of two or more of the apps seen (names sorted), and for
        -- each the users active in all of its apps: the holistic cross-app figures.
        seen_apps AS (SELECT DISTINCT app_source FROM recent),
        user_apps AS (
            SELECT user_id, array_agg(DISTINCT app_source) AS apps FROM recent GROUP BY user_id
        ),
        combos(apps, last_app) AS (
            SELECT ARRAY[app_source], app_source FROM seen_apps
            UNION ALL
            SELECT c.apps || s.app_source, s.app_source
            FROM combos AS c JOIN seen_apps AS s ON s.app_source COLLATE "C" > c.last_app COLLATE "C"
        )
        SELECT jsonb_build_object(
            'period_days', days,
            'total_events', (SELECT count(*) FROM recent),
            'unique_users', (SELECT count(DISTINCT user_id) FROM recent),
            'cross_app_users', (
                SELECT count(*) FROM (
                    SELECT user_id FROM recent GROUP BY user_id
                    HAVING count(DISTINCT app_source) > 1
                ) AS cross_app
            ),
            'events_by_app', COALESCE((
                SELECT jsonb_object_agg(app_source, n)
                FROM (SELECT app_source, count(*) AS n FROM recent GROUP BY app_source) AS a
            ), '{}'::jsonb),
            'events_by_type', COALESCE((
                SELECT jsonb_object_agg(event_type, n)
                FROM (SELECT event_type, count(*) AS n FROM recent GROUP BY event_type) AS t
            ), '{}'::jsonb),
            -- shown: exposures (first displays); converted: attributed to the nudge;
            -- organic: the target reached without exposure, or after the window.
            'nudges', (
                SELECT jsonb_build_object(
                    'detected', count(*) FILTER (WHERE detected_at >= since),
                    'shown', count(*) FILTER (WHERE exposed_at >= since),
                    'converted', count(*) FILTER (WHERE converted AND reached_at >= since),
                    'organic', count(*) FILTER (WHERE organic AND reached_at >= since)
                )
                FROM phoenix_nudge_outcomes
            ),
            'app_combinations', COALESCE((
                SELECT jsonb_object_agg(
                    array_to_string(c.apps, '+'),
                    (SELECT count(*) FROM user_apps AS u WHERE u.apps @> c.apps)
                )
                FROM combos AS c WHERE cardinality(c.apps) >= 2
            ), '{}'::jsonb)
        )
    );
END
$$;

-- Views: a user's journey, and the v1 nudges computed straight from the events ---------
-- (the degraded mode: apps still get basic nudges while no worker runs). Both run with
-- the rights of whoever queries them (security_invoker), so row-level security applies
-- through them. A view left by an older version of this file with other columns is
-- replaced (CREATE OR REPLACE VIEW cannot drop columns); an up-to-date one is kept.

DO $views$
DECLARE
    wanted CONSTANT jsonb := jsonb_build_object(
        'phoenix_user_journey', '["user_id", "event_type", "app_source", "timestamp"]'::jsonb,
        'phoenix_nudge_opportunities',
            '["user_id", "nudge_type", "shown_in", "target_app", "message"]'::jsonb,
        'phoenix_nudge_experiment_results',
            '["nudge_type", "mode", "variant", "message", "assigned", "exposed", "converted",
              "conversion_rate", "ci_low", "ci_high"]'::jsonb
    );
    view_name text;
BEGIN
    FOR view_name IN SELECT jsonb_object_keys(wanted) LOOP
        IF to_regclass(view_name) IS NOT NULL AND (
            SELECT jsonb_agg(attname::text ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = to_regclass(view_name) AND attnum > 0 AND NOT attisdropped
        ) IS DISTINCT FROM wanted -> view_name THEN
            EXECUTE format('DROP VIEW %I', view_name);
        END IF;
    END LOOP;
END
$views$;

-- Every event a user emitted, in the order they happened (twins and dead events aside).
CREATE OR REPLACE VIEW phoenix_user_journey WITH (security_invoker = true) AS
SELECT user_id, event_type, app_source, "timestamp"
FROM phoenix_events
WHERE status NOT IN ('duplicate', 'dead');

-- The v1 nudge rules: letters activity and no CV activity -> letters_to_cv, shown in
-- Phoenix Letters; CV activity and no letters activity -> cv_to_letters, shown in Phoenix CV.
CREATE OR REPLACE VIEW phoenix_nudge_opportunities WITH (security_invoker = true) AS
WITH activity AS (
    SELECT user_id,
           bool_or(app_source = 'phoenix-letters') AS has_letters,
           bool_or(app_source = 'phoenix-cv') AS has_cv
    FROM phoenix_events
    WHERE status NOT IN ('duplicate', 'dead')
    GROUP BY user_id
)
SELECT user_id,
       'letters_to_cv'::text AS nudge_type,
       'phoenix-letters'::text AS shown_in,
       'phoenix-cv'::text AS target_app,
       'Optimisez vos chances avec Phoenix CV !'::text AS message
FROM activity WHERE has_letters AND NOT has_cv
UNION ALL
SELECT user_id,
       'cv_to_letters'::text,
       'phoenix-cv'::text,
       'phoenix-letters'::text,
       'Complétez votre candidature avec une lettre Phoenix Letters !'::text
FROM activity WHERE has_cv AND NOT has_letters;

-- The experiments' results, as GET /api/experiments reports them (less the probability
-- of being best and the p-value, which need sampling): per variant, nudges assigned,
-- exposed, converted (attributed), the conversion rate and its 95 % Wilson interval.
CREATE OR REPLACE VIEW phoenix_nudge_experiment_results WITH (security_invoker = true) AS
WITH counts AS (
    SELECT nudge_type, variant, count(*) AS assigned, count(exposed_at) AS exposed,
           count(*) FILTER (WHERE converted) AS converted
    FROM phoenix_nudge_outcomes GROUP BY nudge_type, variant
), figures AS (
    SELECT v.nudge_type, v.mode, v.variant, v.position, v.messages ->> 'fr' AS message,
           coalesce(c.assigned, 0) AS assigned, coalesce(c.exposed, 0) AS exposed,
           coalesce(c.converted, 0) AS converted
    FROM phoenix_nudge_variants AS v
    LEFT JOIN counts AS c ON c.nudge_type = v.nudge_type AND c.variant = v.variant
), wilson AS (
    SELECT f.*, w.p, w.n, 1.959963984540054::float8 AS z
    FROM figures AS f
    CROSS JOIN LATERAL (
        SELECT f.exposed::float8 AS n,
               CASE WHEN f.exposed > 0 THEN f.converted::float8 / f.exposed END AS p
    ) AS w
)
SELECT nudge_type, mode, variant, message, assigned, exposed, converted,
       p AS conversion_rate,
       CASE WHEN n > 0 THEN greatest(0, ((p + z * z / (2 * n))
           - z * sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n))
       ELSE 0 END AS ci_low,
       CASE WHEN n > 0 THEN least(1, ((p + z * z / (2 * n))
           + z * sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n))
       ELSE 1 END AS ci_high
FROM wilson
ORDER BY nudge_type, position;

-- Row-level security -------------------------------------------------------------------
-- Enabled on every table: a role without a policy sees and writes nothing. The tables'
-- owner (the worker, `migrate`, the SQL editor's postgres user) is not limited by it.

ALTER TABLE phoenix_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_journey_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudges ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudges_sent ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudge_variants ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_private.phoenix_projection_tracking ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_private.phoenix_applied_events ENABLE ROW LEVEL SECURITY;
-- Left by an older version on the tracking table, which it kept in public.
DROP POLICY IF EXISTS phoenix_projection_tracking_service_all
    ON phoenix_private.phoenix_projection_tracking;

-- The figures cover every user: not for the public.
REVOKE ALL ON FUNCTION get_phoenix_ecosystem_stats(integer) FROM PUBLIC;

-- Supabase's roles: grants and policies, each only where the role exists (a plain
-- PostgreSQL has none of them, and no auth schema). Supabase grants everything in public
-- to anon and authenticated by default (sequences and functions included): that is
-- taken back, then only what each role needs is granted.
DO $supabase$
DECLARE
    has_anon boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon');
    has_authenticated boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated')
        AND to_regprocedure('auth.uid()') IS NOT NULL;
    has_service boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role');
    events_seq CONSTANT text := pg_get_serial_sequence('phoenix_events', 'id');
    sent_seq CONSTANT text := pg_get_serial_sequence('phoenix_nudges_sent', 'id');
    everything CONSTANT text := 'phoenix_events, phoenix_journey_entries, phoenix_nudges, '
        'phoenix_nudges_sent, phoenix_user_journey, phoenix_nudge_opportunities, '
        'phoenix_nudge_variants, phoenix_nudge_outcomes, phoenix_nudge_experiment_results';
    own CONSTANT text := 'user_id = (SELECT auth.uid()::text)';
    -- An event's own fields: never id, status, attempts or the worker's other columns.
    event_fields CONSTANT text :=
        'event_type, app_source, user_id, payload, "timestamp", idempotency_key, event_hash';
    policy record;
    grantee record;
BEGIN
    FOR policy IN
        SELECT * FROM (VALUES
            -- The apps' public key: insert new events, nothing else.
            (has_anon, 'phoenix_events', 'phoenix_events_anon_insert', 'INSERT', 'anon',
             NULL, $$status = 'pending' AND attempts = 0$$),
            -- A signed-in user: their own events, their own nudges, their own displays.
            (has_authenticated, 'phoenix_events', 'phoenix_events_user_insert', 'INSERT',
             'authenticated', NULL, own || $$ AND status = 'pending' AND attempts = 0$$),
            (has_authenticated, 'phoenix_events', 'phoenix_events_user_select', 'SELECT',
             'authenticated', own, NULL),
            (has_authenticated, 'phoenix_nudges', 'phoenix_nudges_user_select', 'SELECT',
             'authenticated', own, NULL),
            -- The wordings of the nudges (no user data): a signed-in app shows them.
            (has_authenticated, 'phoenix_nudge_variants', 'phoenix_nudge_variants_user_select',
             'SELECT', 'authenticated', 'true', NULL),
            (has_authenticated, 'phoenix_nudges_sent', 'phoenix_nudges_sent_user_insert',
             'INSERT', 'authenticated', NULL,
             own || $$ AND EXISTS (SELECT 1 FROM phoenix_nudges AS n
                 WHERE n.nudge_id = phoenix_nudges_sent.nudge_id
                   AND n.user_id = (SELECT auth.uid()::text))$$),
            -- The service role bypasses row-level security on Supabase; these policies
            -- give it everything even where it does not.
            (has_service, 'phoenix_events', 'phoenix_events_service_all', 'ALL',
             'service_role', 'true', 'true'),
            (has_service, 'phoenix_journey_entries', 'phoenix_journey_entries_service_all',
             'ALL', 'service_role', 'true', 'true'),
            (has_service, 'phoenix_nudges', 'phoenix_nudges_service_all', 'ALL',
             'service_role', 'true', 'true'),
            (has_service, 'phoenix_nudges_sent', 'phoenix_nudges_sent_service_all', 'ALL',
             'service_role', 'true', 'true'),
            (has_service, 'phoenix_nudge_variants', 'phoenix_nudge_variants_service_all',
             'ALL', 'service_role', 'true', 'true')
        ) AS p(wanted, tbl, name, command, role, using_expr, check_expr)
        WHERE wanted
    LOOP
        -- Created when missing, else brought up to date in place (same policy, no drop).
        IF EXISTS (
            SELECT 1 FROM pg_policies
            WHERE schemaname = current_schema() AND tablename = policy.tbl
              AND policyname = policy.name AND cmd = policy.command
        ) THEN
            EXECUTE format('ALTER POLICY %I ON %I TO %I', policy.name, policy.tbl, policy.role)
                || coalesce(' USING (' || policy.using_expr || ')', '')
                || coalesce(' WITH CHECK (' || policy.check_expr || ')', '');
        ELSE
            IF EXISTS (
                SELECT 1 FROM pg_policies
                WHERE schemaname = current_schema() AND tablename = policy.tbl
                  AND policyname = policy.name
            ) THEN  -- an older policy of that name for another command
                EXECUTE format('DROP POLICY %I ON %I', policy.name, policy.tbl);
            END IF;
            EXECUTE format('CREATE POLICY %I ON %I FOR %s TO %I',
                           policy.name, policy.tbl, policy.command, policy.role)
                || coalesce(' USING (' || policy.using_expr || ')', '')
                || coalesce(' WITH CHECK (' || policy.check_expr || ')', '');
        END IF;
    END LOOP;

    -- Rights an older version gave on the tracking table moved with it: taken back; and
    -- none on the applied events, whatever default privileges the roles have.
    FOR grantee IN
        SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role')
    LOOP
        EXECUTE format('REVOKE ALL ON phoenix_private.phoenix_projection_tracking FROM %I',
                       grantee.rolname);
        EXECUTE format('REVOKE ALL ON phoenix_private.phoenix_applied_events FROM %I',
                       grantee.rolname);
    END LOOP;

    IF has_anon THEN
        EXECUTE 'REVOKE ALL ON ' || everything || ' FROM anon';
        EXECUTE format('REVOKE ALL ON SEQUENCE %s, %s FROM anon', events_seq, sent_seq);
        REVOKE ALL ON FUNCTION get_phoenix_ecosystem_stats(integer) FROM anon;
        EXECUTE 'GRANT INSERT (' || event_fields || ') ON phoenix_events TO anon';
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO anon', events_seq);
    END IF;

    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        -- Taken back even without auth.uid(): with nothing to tell users apart, nothing
        -- is granted below.
        EXECUTE 'REVOKE ALL ON ' || everything || ' FROM authenticated';
        EXECUTE format('REVOKE ALL ON SEQUENCE %s, %s FROM authenticated', events_seq, sent_seq);
        REVOKE ALL ON FUNCTION get_phoenix_ecosystem_stats(integer) FROM authenticated;
    END IF;

    IF has_authenticated THEN
        EXECUTE 'GRANT INSERT (' || event_fields || ') ON phoenix_events TO authenticated';
        GRANT SELECT ON phoenix_events TO authenticated;
        GRANT SELECT ON phoenix_nudges, phoenix_user_journey, phoenix_nudge_opportunities
            TO authenticated;
        GRANT INSERT (nudge_id, user_id, app) ON phoenix_nudges_sent TO authenticated;
        GRANT SELECT ON phoenix_nudge_variants TO authenticated;
        EXECUTE format('GRANT USAGE ON SEQUENCE %s, %s TO authenticated', events_seq, sent_seq);
    END IF;

    IF has_service THEN
        EXECUTE 'GRANT ALL ON ' || everything || ' TO service_role';
        EXECUTE format('GRANT ALL ON SEQUENCE %s, %s TO service_role', events_seq, sent_seq);
        GRANT EXECUTE ON FUNCTION get_phoenix_ecosystem_stats(integer) TO service_role;
    END IF;
END
$supabase$;
