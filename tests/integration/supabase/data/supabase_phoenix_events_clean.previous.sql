-- Phoenix Flywheel: the event store, nudges and analytics, for Supabase (PostgreSQL 15).
--
-- Paste this file into the Supabase SQL editor, or run `phoenix-flywheel migrate` with
-- DATABASE_URL pointing at the database. It is idempotent: running it again changes
-- nothing. On a plain PostgreSQL (no Supabase roles) the role-specific part is skipped.
--
-- Who may do what (row-level security):
--   anon           may only INSERT events (the apps' public key); reads nothing.
--   authenticated  may INSERT events and read events of its own user (auth.uid()), read
--                  its own nudges and record that one of them was shown.
--   service_role   everything (the flywheel worker, admin tools).
-- The worker itself connects as the tables' owner, which row-level security does not limit.
--
-- The tables are those of src/adapters/sql_tables.py, column for column (a test compares
-- the catalog with SQLAlchemy's create_all). `migrate` reads the identical copy shipped in
-- src/adapters/sql/ (a test holds the two byte for byte equal): edit both, or copy one.

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
    CONSTRAINT phoenix_events_status_check CHECK (
        status IN ('pending', 'processing', 'processed', 'duplicate', 'failed', 'dead')
    )
);
COMMENT ON TABLE phoenix_events IS
    'Phoenix apps'' user events (the inbox of the flywheel). event_hash = SHA-256 of the canonical JSON of {event_type, app_source, user_id, payload, idempotency_key}.';

-- The worker's claim scans unfinished events in id order; finished ones stay out.
CREATE INDEX IF NOT EXISTS ix_phoenix_events_claimable
    ON phoenix_events (id) WHERE status IN ('pending', 'failed', 'processing');
-- Users with a batch in hand: the claim leaves their other events to that batch's worker.
CREATE INDEX IF NOT EXISTS ix_phoenix_events_user_processing
    ON phoenix_events (user_id) WHERE status = 'processing';
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
    converted_at timestamptz
);
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

-- Where the worker's projection stands in the journeys' notification log.
CREATE TABLE IF NOT EXISTS phoenix_projection_tracking (
    name     text PRIMARY KEY,
    position bigint NOT NULL
);

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
        WITH recent AS (
            SELECT user_id, app_source, event_type
            FROM phoenix_journey_entries WHERE "timestamp" >= since
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
            'nudges', jsonb_build_object(
                'detected', (SELECT count(*) FROM phoenix_nudges WHERE detected_at >= since),
                'shown', (SELECT count(*) FROM phoenix_nudges_sent WHERE shown_at >= since),
                'converted', (
                    SELECT count(*) FROM phoenix_nudges
                    WHERE status = 'converted' AND converted_at >= since
                )
            )
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
            '["user_id", "nudge_type", "shown_in", "target_app", "message"]'::jsonb
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

-- Row-level security -------------------------------------------------------------------
-- Enabled on every table: a role without a policy sees and writes nothing. The tables'
-- owner (the worker, `migrate`, the SQL editor's postgres user) is not limited by it.

ALTER TABLE phoenix_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_journey_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudges ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudges_sent ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_projection_tracking ENABLE ROW LEVEL SECURITY;

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
        'phoenix_nudges_sent, phoenix_projection_tracking, phoenix_user_journey, '
        'phoenix_nudge_opportunities';
    own CONSTANT text := 'user_id = (SELECT auth.uid()::text)';
    policy record;
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
            (has_service, 'phoenix_projection_tracking',
             'phoenix_projection_tracking_service_all', 'ALL', 'service_role', 'true', 'true')
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

    IF has_anon THEN
        EXECUTE 'REVOKE ALL ON ' || everything || ' FROM anon';
        EXECUTE format('REVOKE ALL ON SEQUENCE %s, %s FROM anon', events_seq, sent_seq);
        REVOKE ALL ON FUNCTION get_phoenix_ecosystem_stats(integer) FROM anon;
        GRANT INSERT ON phoenix_events TO anon;
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
        GRANT INSERT, SELECT ON phoenix_events TO authenticated;
        GRANT SELECT ON phoenix_nudges, phoenix_user_journey, phoenix_nudge_opportunities
            TO authenticated;
        GRANT INSERT ON phoenix_nudges_sent TO authenticated;
        EXECUTE format('GRANT USAGE ON SEQUENCE %s, %s TO authenticated', events_seq, sent_seq);
    END IF;

    IF has_service THEN
        EXECUTE 'GRANT ALL ON ' || everything || ' TO service_role';
        EXECUTE format('GRANT ALL ON SEQUENCE %s, %s TO service_role', events_seq, sent_seq);
        GRANT EXECUTE ON FUNCTION get_phoenix_ecosystem_stats(integer) TO service_role;
    END IF;
END
$supabase$;
