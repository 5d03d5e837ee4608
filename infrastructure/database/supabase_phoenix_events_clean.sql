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
--                  nudges and the nudges' wordings (the experiments' variants and the
--                  nudge types, no user data), and records that one of its nudges was
--                  shown. It calls phoenix_active_nudges and phoenix_mark_nudge_shown for
--                  its own user only.
--   service_role   everything in public (admin tools), any user's nudges included.
-- The worker itself connects as the tables' owner, which row-level security does not limit.
-- What only the worker keeps (its journeys' event store and snapshots, written by the
-- eventsourcing library, and its projection's position) lives in the schema
-- phoenix_private, which Supabase's REST API does not serve and on which anon and
-- authenticated have no right at all.
--
-- The tables are those of src/adapters/sql/tables.py, column for column (a test compares
-- the catalog with SQLAlchemy's create_all). `migrate` applies this very file: a built
-- package carries it inside (hatch's force-include in pyproject.toml); there is no copy.

-- The worker's private schema ----------------------------------------------------------
-- eventsourcing creates its tables here (POSTGRES_SCHEMA), after this file has run. An
-- older version kept them, and the projection's tracking table, in public: they are
-- moved, rows, indexes, sequences and policies with them.

CREATE SCHEMA IF NOT EXISTS phoenix_private;
REVOKE ALL ON SCHEMA phoenix_private FROM PUBLIC;

-- UUID v5, for the id the worker gives a nudge (phoenix_private.phoenix_nudge_id). Supabase
-- keeps extensions in the schema extensions; one already installed in public (a plain
-- PostgreSQL set up by hand) stays there, and the functions below find it either way.
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;

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
-- locked_by: the worker batch holding the event's lease (or, once the event is finished,
-- the batch that finished it); it renews that lease while it works and gives the batch
-- back if it loses its connection.
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
-- The events in a worker's hands: its heartbeat finds those it holds by name, and the
-- claim reads all of them (the users it leaves to their batches' workers).
CREATE INDEX IF NOT EXISTS ix_phoenix_events_locked_by
    ON phoenix_events (locked_by) WHERE status = 'processing';
CREATE INDEX IF NOT EXISTS ix_phoenix_events_user_timestamp ON phoenix_events (user_id, "timestamp");
-- The latest events first (ORDER BY "timestamp" DESC LIMIT n, the deployment guide's first
-- look at the inbox), and force-reprocess by date.
CREATE INDEX IF NOT EXISTS ix_phoenix_events_timestamp ON phoenix_events ("timestamp");
-- An index an older version made that cost every write of an event: the users in hand,
-- which the claim reads through ix_phoenix_events_locked_by (whose rows are the same).
DROP INDEX IF EXISTS ix_phoenix_events_user_processing;

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
-- Its place when nudges compete for a user's slots under the daily cap, higher first: a
-- Thompson draw on its type's conversions, made once at detection (0: detected before
-- nudges were ranked, after every ranked one). Added in place to an older table.
ALTER TABLE phoenix_nudges ADD COLUMN IF NOT EXISTS rank double precision NOT NULL DEFAULT 0;
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

-- The experiments on the nudge messages, as the worker runs them (the app modules' own,
-- or an experiments file): published at each start, read by the nudges to show and the
-- results view below.
CREATE TABLE IF NOT EXISTS phoenix_nudge_variants (
    nudge_type       text             NOT NULL,
    variant          text             NOT NULL,
    position         integer          NOT NULL,
    mode             text             NOT NULL,
    weight           double precision NOT NULL,
    messages         jsonb            NOT NULL,
    PRIMARY KEY (nudge_type, variant)
);

-- The values the nudge rules need (NUDGE_COOLDOWN_HOURS, NUDGE_MAX_PER_DAY,
-- NUDGE_ATTRIBUTION_DAYS), one row, written at each start of the worker or the server:
-- every path reads the same ones here.
CREATE TABLE IF NOT EXISTS phoenix_nudge_settings (
    id               integer          NOT NULL DEFAULT 1 PRIMARY KEY,
    cooldown_hours   double precision NOT NULL,
    max_per_day      integer          NOT NULL,
    attribution_days integer          NOT NULL,
    CONSTRAINT phoenix_nudge_settings_one_row CHECK (id = 1)
);

-- The catalogue of the app modules, written at each start (and shipped below for a store
-- set up by pasting this file): the insert check of new events and the degraded mode
-- read it. An entry a module no longer declares is removed at the next start.
CREATE TABLE IF NOT EXISTS phoenix_apps (
    app_source text PRIMARY KEY,
    title      text NOT NULL
);
CREATE TABLE IF NOT EXISTS phoenix_event_types (
    event_type     text  PRIMARY KEY,
    app_source     text  NOT NULL,
    description    text  NOT NULL DEFAULT '',
    -- Each declared payload field: name, kind, bounds, and what each failure says.
    payload_fields jsonb NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS phoenix_nudge_types (
    nudge_type text  PRIMARY KEY,
    shown_in   text  NOT NULL,
    target_app text  NOT NULL,
    -- cross_app: the events alone decide it (the degraded mode offers it); journey: only
    -- the worker's journeys can.
    kind       text  NOT NULL,
    -- The default wording, shown when no experiment runs on the nudge type.
    messages   jsonb NOT NULL
);

-- The degraded mode's opportunities as phoenix_active_nudges offered them before the worker
-- detected them: a display of one is recorded under the id the worker will give the
-- nudge, and the worker keeps the wording the user saw.
CREATE TABLE IF NOT EXISTS phoenix_private.phoenix_nudge_offers (
    nudge_id   text        PRIMARY KEY,
    user_id    text        NOT NULL,
    nudge_type text        NOT NULL,
    shown_in   text        NOT NULL,
    target_app text        NOT NULL,
    variant    text        NOT NULL,
    offered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_phoenix_nudge_offers_user ON phoenix_private.phoenix_nudge_offers (user_id);

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

-- The skills a language model read from an offer's or a CV's text (LLM_BASE_URL), one row
-- per user, kind of text, model, prompt version and text (its SHA-256, never the text), so
-- an event processed again, or by a restarted worker, never asks the model again.
-- Written and read by the worker alone: private, row-level security on and no right for
-- the REST API's roles. Forgetting a user erases their rows.
CREATE TABLE IF NOT EXISTS phoenix_private.phoenix_skills_extractions (
    user_id        text        NOT NULL,
    kind           text        NOT NULL,
    model          text        NOT NULL,
    prompt_version text        NOT NULL,
    input_sha256   text        NOT NULL,
    skills         jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind, model, prompt_version, input_sha256)
);
ALTER TABLE phoenix_private.phoenix_skills_extractions ENABLE ROW LEVEL SECURITY;
DO $skills_extractions$
DECLARE
    grantee record;
BEGIN
    FOR grantee IN
        SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role')
    LOOP
        EXECUTE format('REVOKE ALL ON phoenix_private.phoenix_skills_extractions FROM %I',
                       grantee.rolname);
    END LOOP;
END
$skills_extractions$;

-- What became of each nudge: its exposure (the first display, unless the user had already
-- reached the target), and whether reaching the target counts as the nudge's conversion
-- (after the exposure, within the attribution window of the settings) or as organic.
-- The one definition on PostgreSQL: GET /api/experiments, /api/analytics/ecosystem, the
-- dashboard and get_phoenix_ecosystem_stats all read this view.
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
    SELECT coalesce(max(attribution_days), 7) AS attribution_days FROM phoenix_nudge_settings
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

-- An older version kept the attribution window with each variant: it is a setting now
-- (phoenix_nudge_settings, written with the others when the worker starts).
DO $retired$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = 'phoenix_nudge_variants'::regclass AND attname = 'attribution_days'
            AND NOT attisdropped
    ) THEN
        ALTER TABLE phoenix_nudge_variants DROP COLUMN attribution_days;
    END IF;
END
$retired$;

-- The shipped catalogue, experiments and settings -------------------------------------
-- <shipped catalogue>
-- Generated from the app modules: edit them, then run
-- `python -m src.entrypoints.shipped_catalogue --write`. It fills what is missing only;
-- `migrate` and every start of the worker or the server write the live catalogue.
INSERT INTO phoenix_apps (app_source, title) VALUES
    ('phoenix-cv', 'Phoenix CV'),
    ('phoenix-letters', 'Phoenix Letters'),
    ('phoenix-rise', 'Phoenix Rise')
ON CONFLICT DO NOTHING;
INSERT INTO phoenix_event_types (event_type, app_source, description, payload_fields) VALUES
    ('cv.uploaded', 'phoenix-cv', 'a CV was uploaded', '[{"field": "payload.cv_id", "kind": "text", "maximum": null, "messages": {"missing": "is required (text)", "out_of_range": "is out of range (text)", "wrong_kind": "is not text"}, "minimum": null, "name": "cv_id", "required": false}, {"field": "payload.skills", "kind": "text_list", "maximum": null, "messages": {"missing": "is required (a list of texts)", "out_of_range": "is out of range (a list of texts)", "wrong_kind": "is not a list of texts"}, "minimum": null, "name": "skills", "required": false}, {"field": "payload.cv_text", "kind": "text", "maximum": null, "messages": {"missing": "is required (text)", "out_of_range": "is out of range (text)", "wrong_kind": "is not text"}, "minimum": null, "name": "cv_text", "required": false}]'::jsonb),
    ('cv.generated', 'phoenix-cv', 'a CV was generated', '[{"field": "payload.cv_id", "kind": "text", "maximum": null, "messages": {"missing": "is required (text)", "out_of_range": "is out of range (text)", "wrong_kind": "is not text"}, "minimum": null, "name": "cv_id", "required": false}, {"field": "payload.skills", "kind": "text_list", "maximum": null, "messages": {"missing": "is required (a list of texts)", "out_of_range": "is out of range (a list of texts)", "wrong_kind": "is not a list of texts"}, "minimum": null, "name": "skills", "required": false}, {"field": "payload.cv_text", "kind": "text", "maximum": null, "messages": {"missing": "is required (text)", "out_of_range": "is out of range (text)", "wrong_kind": "is not text"}, "minimum": null, "name": "cv_text", "required": false}]'::jsonb),
    ('letter.generated', 'phoenix-letters', 'a cover letter was generated', '[]'::jsonb),
    ('job_offer.analyzed', 'phoenix-letters', 'a job offer was analysed', '[{"field": "payload.offer_id", "kind": "text", "maximum": null, "messages": {"missing": "is required (text)", "out_of_range": "is out of range (text)", "wrong_kind": "is not text"}, "minimum": null, "name": "offer_id", "required": false}, {"field": "payload.title", "kind": "text", "maximum": null, "messages": {"missing": "is required (text)", "out_of_range": "is out of range (text)", "wrong_kind": "is not text"}, "minimum": null, "name": "title", "required": false}, {"field": "payload.company", "kind": "text", "maximum": null, "messages": {"missing": "is required (text)", "out_of_range": "is out of range (text)", "wrong_kind": "is not text"}, "minimum": null, "name": "company", "required": false}, {"field": "payload.skills", "kind": "text_list", "maximum": null, "messages": {"missing": "is required (a list of texts)", "out_of_range": "is out of range (a list of texts)", "wrong_kind": "is not a list of texts"}, "minimum": null, "name": "skills", "required": false}, {"field": "payload.offer_text", "kind": "text", "maximum": null, "messages": {"missing": "is required (text)", "out_of_range": "is out of range (text)", "wrong_kind": "is not text"}, "minimum": null, "name": "offer_text", "required": false}]'::jsonb),
    ('rise.coaching_session', 'phoenix-rise', 'a coaching session was held', '[]'::jsonb),
    ('rise.meditation', 'phoenix-rise', 'a meditation was completed', '[]'::jsonb),
    ('rise.journal_entry', 'phoenix-rise', 'a journal entry was written', '[{"field": "payload.stress_level", "kind": "integer", "maximum": 10, "messages": {"missing": "is required (an integer from 0 to 10)", "out_of_range": "is out of range (an integer from 0 to 10)", "wrong_kind": "is not an integer from 0 to 10"}, "minimum": 0, "name": "stress_level", "required": true}]'::jsonb)
ON CONFLICT DO NOTHING;
INSERT INTO phoenix_nudge_types (nudge_type, shown_in, target_app, kind, messages) VALUES
    ('cv_to_letters', 'phoenix-cv', 'phoenix-letters', 'cross_app', '{"en": "Complete your application with a Phoenix Letters cover letter!", "fr": "Complétez votre candidature avec une lettre Phoenix Letters !"}'::jsonb),
    ('skills_gap_to_cv', 'phoenix-cv', 'phoenix-cv', 'journey', '{"en": "An offer you analysed asks for skills your CV does not show: complete it with Phoenix CV!", "fr": "Une offre analysée demande des compétences que votre CV ne montre pas : complétez-le avec Phoenix CV !"}'::jsonb),
    ('letters_to_cv', 'phoenix-letters', 'phoenix-cv', 'cross_app', '{"en": "Boost your chances with Phoenix CV!", "fr": "Optimisez vos chances avec Phoenix CV !"}'::jsonb),
    ('stress_relief', 'phoenix-rise', 'phoenix-rise', 'journey', '{"en": "You seem under pressure: take ten minutes to meditate.", "fr": "Vous semblez sous pression : prenez dix minutes pour méditer."}'::jsonb),
    ('letters_to_rise', 'phoenix-letters', 'phoenix-rise', 'journey', '{"en": "An intense job search? Phoenix Rise helps you keep up the pace.", "fr": "Une recherche intense ? Phoenix Rise vous aide à tenir le rythme."}'::jsonb)
ON CONFLICT DO NOTHING;
INSERT INTO phoenix_nudge_settings (id, cooldown_hours, max_per_day, attribution_days) VALUES
    (1, 24, 1, 7)
ON CONFLICT DO NOTHING;
INSERT INTO phoenix_nudge_variants (nudge_type, variant, position, mode, weight, messages)
SELECT * FROM (VALUES
    ('cv_to_letters', 'complete', 0, 'ab', 1, '{"en": "Complete your application with a Phoenix Letters cover letter!", "fr": "Complétez votre candidature avec une lettre Phoenix Letters !"}'::jsonb),
    ('cv_to_letters', 'stand_out', 1, 'ab', 1, '{"en": "Stand out with a Phoenix Letters cover letter!", "fr": "Démarquez-vous avec une lettre de motivation Phoenix Letters !"}'::jsonb),
    ('skills_gap_to_cv', 'complete', 0, 'ab', 1, '{"en": "An offer you analysed asks for skills your CV does not show: complete it with Phoenix CV!", "fr": "Une offre analysée demande des compétences que votre CV ne montre pas : complétez-le avec Phoenix CV !"}'::jsonb),
    ('skills_gap_to_cv', 'land_it', 1, 'ab', 1, '{"en": "Show the recruiter what they are looking for: add these skills to your Phoenix CV.", "fr": "Montrez au recruteur ce qu''il cherche : ajoutez ces compétences à votre CV Phoenix CV."}'::jsonb),
    ('letters_to_cv', 'chances', 0, 'ab', 1, '{"en": "Boost your chances with Phoenix CV!", "fr": "Optimisez vos chances avec Phoenix CV !"}'::jsonb),
    ('letters_to_cv', 'difference', 1, 'ab', 1, '{"en": "A polished CV makes the difference: build yours with Phoenix CV!", "fr": "Un CV soigné fait la différence : créez le vôtre avec Phoenix CV !"}'::jsonb),
    ('stress_relief', 'meditate', 0, 'ab', 1, '{"en": "You seem under pressure: take ten minutes to meditate.", "fr": "Vous semblez sous pression : prenez dix minutes pour méditer."}'::jsonb),
    ('stress_relief', 'breathe', 1, 'ab', 1, '{"en": "Time for a break: a guided meditation is waiting for you in Phoenix Rise.", "fr": "Une pause s''impose : une méditation guidée vous attend dans Phoenix Rise."}'::jsonb),
    ('letters_to_rise', 'pace', 0, 'ab', 1, '{"en": "An intense job search? Phoenix Rise helps you keep up the pace.", "fr": "Une recherche intense ? Phoenix Rise vous aide à tenir le rythme."}'::jsonb),
    ('letters_to_rise', 'coach', 1, 'ab', 1, '{"en": "Lots of applications this week: a Phoenix Rise coach can back you up.", "fr": "Beaucoup de candidatures cette semaine : un coach Phoenix Rise peut vous épauler."}'::jsonb)
) AS shipped (nudge_type, variant, position, mode, weight, messages)
WHERE NOT EXISTS (SELECT 1 FROM phoenix_nudge_variants);
-- </shipped catalogue>

-- New events wake the workers at once (LISTEN phoenix_events_inserted) -----------------

CREATE OR REPLACE FUNCTION phoenix_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('phoenix_events_inserted', '');
    RETURN NULL;
END
$$;

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

-- The catalogue's check: new events of an unknown app or type, of a type another app
-- publishes, or whose payload misses a declared field (or has it of the wrong kind, or
-- out of range) are refused, in the words of the flywheel's own check
-- (src/domain/catalogue.py) and naming the field (the error's COLUMN, and the message's
-- start), with the event's hash in DETAIL; in a batch, the first such event inserted. The catalogue is the one the code that ran
-- last wrote (phoenix_apps, phoenix_event_types). Inserts only: rows already stored are
-- not checked again. It reads the catalogue as its owner (SECURITY DEFINER): inserting
-- roles need no right on it.

-- A text as Python's repr() writes it (quotes, backslashes, control characters), so that
-- both checks quote a name alike.
CREATE OR REPLACE FUNCTION phoenix_private.phoenix_quoted(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
DECLARE
    quote CONSTANT text := CASE WHEN strpos(value, '''') > 0 AND strpos(value, '"') = 0
                                THEN '"' ELSE '''' END;
    result text := '';
    ch text;
    code integer;
BEGIN
    FOREACH ch IN ARRAY regexp_split_to_array(value, '') LOOP
        code := ascii(ch);
        result := result || CASE
            WHEN ch = '\' THEN '\\'
            WHEN ch = quote THEN '\' || quote
            WHEN ch = E'\n' THEN '\n'
            WHEN ch = E'\r' THEN '\r'
            WHEN ch = E'\t' THEN '\t'
            WHEN code < 32 OR code BETWEEN 127 AND 160 OR code = 173
                THEN '\x' || lpad(to_hex(code), 2, '0')
            ELSE ch
        END;
    END LOOP;
    RETURN quote || result || quote;
END
$$;

CREATE OR REPLACE FUNCTION phoenix_private.phoenix_events_check_catalogue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    refused record;
    field text;
    message text;
BEGIN
    -- The first new row (in the order inserted) the catalogue refuses, and why: its app or
    -- type, else its first declared payload field that fails.
    SELECT n.event_type, n.app_source, n.event_hash, t.app_source AS owner,
           f.declared ->> 'field' AS field, f.declared -> 'messages' ->> f.failed AS words
    INTO refused
    FROM new_events AS n
    LEFT JOIN public.phoenix_event_types AS t ON t.event_type = n.event_type
    LEFT JOIN LATERAL (
        SELECT c.declared, c.failed
        FROM (
            SELECT e.declared, e.position, CASE
                WHEN v.value IS NULL OR jsonb_typeof(v.value) = 'null' THEN
                    CASE WHEN (e.declared ->> 'required')::boolean THEN 'missing' END
                WHEN NOT CASE e.declared ->> 'kind'
                    -- a number without a fractional part, as the flywheel's check has it
                    WHEN 'integer' THEN jsonb_typeof(v.value) = 'number'
                        AND (v.value #>> '{}')::numeric = trunc((v.value #>> '{}')::numeric)
                    WHEN 'number' THEN jsonb_typeof(v.value) = 'number'
                    WHEN 'text' THEN jsonb_typeof(v.value) = 'string'
                    WHEN 'boolean' THEN jsonb_typeof(v.value) = 'boolean'
                    WHEN 'text_list' THEN jsonb_typeof(v.value) = 'array'
                        AND NOT jsonb_path_exists(v.value, '$[*] ? (@.type() != "string")')
                    ELSE false
                END THEN 'wrong_kind'
                WHEN jsonb_typeof(v.value) = 'number' AND (
                    (v.value #>> '{}')::numeric < (e.declared ->> 'minimum')::numeric
                    OR (v.value #>> '{}')::numeric > (e.declared ->> 'maximum')::numeric
                ) THEN 'out_of_range'
            END AS failed
            FROM jsonb_array_elements(t.payload_fields) WITH ORDINALITY AS e(declared, position)
            CROSS JOIN LATERAL (SELECT n.payload -> (e.declared ->> 'name') AS value) AS v
        ) AS c
        WHERE c.failed IS NOT NULL
        ORDER BY c.position
        LIMIT 1
    ) AS f ON t.app_source = n.app_source AND jsonb_typeof(n.payload) = 'object'
    WHERE t.app_source IS DISTINCT FROM n.app_source OR f.failed IS NOT NULL
    ORDER BY n.id
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF refused.owner IS NOT DISTINCT FROM refused.app_source THEN
        field := refused.field;
        message := refused.words;
    ELSIF NOT EXISTS (
        SELECT 1 FROM public.phoenix_apps AS a WHERE a.app_source = refused.app_source
    ) THEN
        field := 'app_source';
        message := format('unknown app %s; known apps: %s',
            phoenix_private.phoenix_quoted(refused.app_source),
            (SELECT string_agg(a.app_source, ', ' ORDER BY a.app_source COLLATE "C")
             FROM public.phoenix_apps AS a));
    ELSIF refused.owner IS NULL THEN
        field := 'event_type';
        message := format('unknown event type %s; known types: %s',
            phoenix_private.phoenix_quoted(refused.event_type),
            (SELECT string_agg(t.event_type, ', ' ORDER BY t.event_type COLLATE "C")
             FROM public.phoenix_event_types AS t));
    ELSE
        field := 'app_source';
        message := format('event type %s is published by %s, not %s',
            phoenix_private.phoenix_quoted(refused.event_type),
            phoenix_private.phoenix_quoted(refused.owner),
            phoenix_private.phoenix_quoted(refused.app_source));
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'check_violation',
        MESSAGE = field || ': ' || message,
        COLUMN = field,
        DETAIL = 'event_hash: ' || coalesce(refused.event_hash, '(none)');
END
$$;

-- The triggers on new events, each created once (an existing one is kept as it is).
DO $triggers$
DECLARE
    wanted record;
BEGIN
    FOR wanted IN SELECT * FROM (VALUES
        ('phoenix_events_inserted', 'AFTER INSERT ON phoenix_events FOR EACH STATEMENT EXECUTE FUNCTION phoenix_events_notify()'),
        ('phoenix_events_check_new', 'BEFORE INSERT ON phoenix_events FOR EACH ROW EXECUTE FUNCTION phoenix_private.phoenix_events_check_new()'),
        -- Once per statement, over its new rows at once: far cheaper for a batch.
        ('phoenix_events_check_catalogue', 'AFTER INSERT ON phoenix_events'
            ' REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT'
            ' EXECUTE FUNCTION phoenix_private.phoenix_events_check_catalogue()')
    ) AS t(name, definition) LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_trigger
            WHERE tgrelid = 'phoenix_events'::regclass AND tgname = wanted.name
        ) THEN
            EXECUTE format('CREATE TRIGGER %I ', wanted.name) || wanted.definition;
        END IF;
    END LOOP;
END
$triggers$;

-- The worker's fencing token -------------------------------------------------------------
-- The commit that saves a batch first calls this, in its own transaction: it locks the
-- batch's events (in id order, as the claim does) and raises SQLSTATE PF001 unless every
-- one of them still carries the batch's name (locked_by: a claim writes it, and a
-- finished event keeps the name of the batch that finished it). A worker whose lease ran
-- out while it was stalled finds its events claimed by another batch, or erased: its whole
-- commit rolls back, so it cannot write anything back, not even for a user forgotten
-- meanwhile.
-- A function because the save is one pipelined round trip: the check must fail on the
-- server, not in a client reading a count back.

CREATE OR REPLACE FUNCTION phoenix_private.phoenix_hold_batch(p_ids bigint[], p_holder text)
RETURNS void
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    held integer;
BEGIN
    SELECT count(*) INTO held FROM (
        SELECT 1 FROM phoenix_events
        WHERE id = ANY (p_ids) AND locked_by = p_holder
        ORDER BY id
        FOR UPDATE
    ) AS mine;
    IF held <> cardinality(p_ids) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PF001',
            MESSAGE = format('batch %s no longer holds %s of its %s events',
                             p_holder, cardinality(p_ids) - held, cardinality(p_ids)),
            HINT = 'its lease ran out: the events were taken over, finished or erased';
    END IF;
END
$$;

-- Retention: finished events leave the inbox once older than the window -------------------
-- A processed event lives on in its user's journey (the journeys' events, the journey
-- entries, the applied events: erasure, analytics and the nudges read those); a duplicate
-- is a twin of one. Both leave phoenix_events once processed more than p_retention_days
-- ago (the worker's EVENT_RETENTION_DAYS), so the queue's table and indexes stay the size
-- of the window. Pending, in-hand, failed and dead rows stay (dead ones until requeued or
-- forgotten), and so does each user's last processed event in each app, which is what
-- the degraded mode reads of the past. One bounded batch per call, lowest ids first after p_after, in the caller's
-- transaction: the worker calls it again with the last id deleted until a batch comes
-- back short. Rows another transaction holds (a save, an erasure) are skipped: the next
-- pass takes them. The one home of the rule on PostgreSQL (SQLite's is
-- src/adapters/sqlalchemy_retention.py).

CREATE OR REPLACE FUNCTION phoenix_private.phoenix_prune_events(
    p_retention_days integer, p_after bigint DEFAULT 0, p_batch integer DEFAULT 5000
) RETURNS TABLE (deleted bigint, last_id bigint)
LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp
-- The check of a newer event of the user walks that user's rows (their index); without
-- statistics, PostgreSQL would AND it with a bitmap of every id above the candidate's, once
-- per candidate: a batch over a million old rows then never ended. Nor is a batch worth
-- compiling (JIT).
SET enable_bitmapscan = off SET jit = off AS $$
DECLARE
    cutoff timestamptz;
BEGIN
    IF p_retention_days IS NULL OR p_retention_days < 1 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('EVENT_RETENTION_DAYS must be at least 1, not %s', p_retention_days);
    END IF;
    cutoff := now() - p_retention_days * interval '1 day';
    RETURN QUERY
    WITH gone AS (
        DELETE FROM phoenix_events
        WHERE id = ANY (ARRAY(
            SELECT e.id FROM phoenix_events AS e
            WHERE e.id > coalesce(p_after, 0)
              AND e.status IN ('processed', 'duplicate')
              AND coalesce(e.processed_at, e.received_at) < cutoff
              -- A user's last processed event in an app stays: the degraded mode's
              -- nudges (phoenix_nudge_opportunities) read which apps a user is active in.
              AND (e.status = 'duplicate' OR EXISTS (
                  SELECT 1 FROM phoenix_events AS n
                  WHERE n.user_id = e.user_id AND n.app_source = e.app_source
                    AND n.status = 'processed' AND n.id > e.id
              ))
            ORDER BY e.id
            LIMIT greatest(coalesce(p_batch, 5000), 1)
            FOR UPDATE SKIP LOCKED
        ))
        RETURNING id
    )
    SELECT count(*), max(gone.id) FROM gone;
END
$$;
REVOKE ALL ON FUNCTION phoenix_private.phoenix_prune_events(integer, bigint, integer) FROM PUBLIC;

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

-- The nudges apps show ---------------------------------------------------------------
-- One home for their rules on PostgreSQL: the service (HTTP API), the bridge's SQL
-- transport and Supabase's REST API (rpc) all call phoenix_active_nudges and
-- phoenix_mark_nudge_shown (the embedded SQLite store has src/application/nudge_policy.py,
-- held to the same answers by one contract suite).

-- What a nudge of this variant says in this language: the variant's message, else the
-- experiment's first variant's (a variant since removed, or none chosen yet); without an
-- experiment, the nudge type's default wording, as variant 'default'. French when the
-- language has none. Wordings hold no user data: any signed-in user may read them.
CREATE OR REPLACE FUNCTION phoenix_nudge_wording(
    p_nudge_type text, p_variant text, p_lang text DEFAULT 'fr'
) RETURNS TABLE (variant text, message text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(v.variant, nullif(p_variant, ''), 'default'),
           coalesce(nullif(coalesce(v.messages, t.messages) ->> p_lang, ''),
                    nullif(coalesce(v.messages, t.messages) ->> 'fr', ''),
                    p_nudge_type)
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        SELECT v.variant, v.messages FROM phoenix_nudge_variants AS v
        WHERE v.nudge_type = p_nudge_type
        ORDER BY v.variant = p_variant DESC, v.position
        LIMIT 1
    ) AS v ON true
    LEFT JOIN phoenix_nudge_types AS t ON t.nudge_type = p_nudge_type
$$;

-- The id the worker gives a user's nudge of a type (nudge_id in
-- src/domain/user_journey.py): UUID v5 of the type in the namespace of the user's
-- journey, itself UUID v5 of the user id in the flywheel's namespace.
CREATE OR REPLACE FUNCTION phoenix_private.phoenix_nudge_id(p_user_id text, p_nudge_type text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = public, extensions, pg_temp AS $$
BEGIN
    RETURN uuid_generate_v5(
        uuid_generate_v5(
            uuid_generate_v5(uuid_ns_url(), 'https://phoenix.app/flywheel/user-journey'),
            p_user_id
        ),
        p_nudge_type
    )::text;
END
$$;

-- Who may reach a user's nudges through the functions below, which run as their owner:
-- the owner's roles (the worker, the service, the SQL editor) and the service role, any
-- user; a signed-in user (authenticated), their own only (auth.uid()); anyone else,
-- nobody. The role before the switch to the owner is the session's (current_setting).
CREATE OR REPLACE FUNCTION phoenix_private.phoenix_check_caller(p_user_id text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller CONSTANT text := current_setting('role', true);
BEGIN
    IF caller IS NULL OR caller IN ('none', 'service_role')
       OR pg_has_role(caller, current_user, 'USAGE') THEN
        RETURN;
    END IF;
    IF caller = 'authenticated' AND to_regprocedure('auth.uid()') IS NOT NULL THEN
        IF p_user_id = (SELECT auth.uid()::text) THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = 'permission denied: a signed-in user reaches only their own nudges';
END
$$;

-- Views: a user's journey, the degraded mode's opportunities, the experiments' results.
-- They run with the rights of whoever queries them (security_invoker), so row-level
-- security applies through them. A view left by an older version of this file with other columns is
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

-- The degraded mode: the nudges the events alone decide (nudge types of kind cross_app:
-- the user is active in the app it is shown in and never in its target, twins and dead
-- events aside, pending ones counted), with their French wording. Built from the
-- catalogue, so a new app's module brings its own. phoenix_active_nudges offers those the
-- worker has not detected (yet) to the apps.
CREATE OR REPLACE VIEW phoenix_nudge_opportunities WITH (security_invoker = true) AS
WITH activity AS (
    SELECT user_id, array_agg(DISTINCT app_source) AS apps
    FROM phoenix_events
    WHERE status NOT IN ('duplicate', 'dead')
    GROUP BY user_id
)
SELECT a.user_id, t.nudge_type, t.shown_in, t.target_app, w.message
FROM activity AS a
JOIN phoenix_nudge_types AS t
    ON t.kind = 'cross_app' AND t.shown_in = ANY (a.apps) AND NOT t.target_app = ANY (a.apps)
CROSS JOIN LATERAL phoenix_nudge_wording(t.nudge_type, '', 'fr') AS w;

-- The nudges to show a user in an app now, worded in p_lang (French when it has none):
-- the worker's active nudges (by rank, highest first, then detection, then type), then
-- the degraded mode's offers (by type), each carrying the id the worker gives or will give it. A nudge displayed
-- within the cooldown is hidden; at most max_per_day distinct nudges are displayed to a
-- user in an app in 24 hours (one already displayed then keeps its place). Each offer
-- returned is recorded, so that its display can be, and so that the worker keeps its
-- wording; an offer recorded earlier keeps the wording it had.
CREATE OR REPLACE FUNCTION phoenix_active_nudges(
    p_user_id text, p_app text, p_lang text DEFAULT 'fr'
) RETURNS TABLE (nudge_id text, nudge_type text, target_app text, message text, variant text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, extensions, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM phoenix_private.phoenix_check_caller(p_user_id);
    RETURN QUERY
    WITH settings AS (
        SELECT coalesce(max(s.cooldown_hours), 24) AS cooldown_hours,
               coalesce(max(s.max_per_day), 1) AS max_per_day
        FROM phoenix_nudge_settings AS s
    ), candidates AS (
        SELECT n.nudge_id, n.nudge_type, n.target_app, n.variant, false AS offered,
               n.detected_at, n.rank
        FROM phoenix_nudges AS n
        WHERE n.user_id = p_user_id AND n.shown_in = p_app AND n.status = 'active'
        UNION ALL
        SELECT o.nudge_id, o.nudge_type, o.target_app,
               coalesce(
                   (SELECT r.variant FROM phoenix_private.phoenix_nudge_offers AS r
                    WHERE r.nudge_id = o.nudge_id),
                   (SELECT v.variant FROM phoenix_nudge_variants AS v
                    WHERE v.nudge_type = o.nudge_type ORDER BY v.position LIMIT 1),
                   ''),
               true, NULL::timestamptz, 0::double precision
        FROM (
            SELECT phoenix_private.phoenix_nudge_id(p.user_id, p.nudge_type) AS nudge_id,
                   p.nudge_type, p.target_app
            FROM phoenix_nudge_opportunities AS p
            WHERE p.user_id = p_user_id AND p.shown_in = p_app
              AND NOT EXISTS (  -- the worker's, whatever became of it since
                  SELECT 1 FROM phoenix_nudges AS n
                  WHERE n.user_id = p_user_id AND n.nudge_type = p.nudge_type
              )
        ) AS o
    ), visible AS (
        SELECT c.*, EXISTS (
            SELECT 1 FROM phoenix_nudges_sent AS s
            WHERE s.nudge_id = c.nudge_id AND s.user_id = p_user_id AND s.app = p_app
              AND s.shown_at > now() - interval '1 day'
        ) AS shown_today
        FROM candidates AS c CROSS JOIN settings AS st
        WHERE NOT EXISTS (
            SELECT 1 FROM phoenix_nudges_sent AS s
            WHERE s.nudge_id = c.nudge_id
              AND s.shown_at > now() - st.cooldown_hours * interval '1 hour'
        )
    ), ranked AS (
        SELECT v.*, count(*) FILTER (WHERE NOT v.shown_today) OVER (
            ORDER BY v.offered, v.rank DESC, v.detected_at, v.nudge_type COLLATE "C",
                     v.nudge_id COLLATE "C"
            ROWS UNBOUNDED PRECEDING
        ) AS nth_new
        FROM visible AS v
    ), kept AS (
        SELECT r.* FROM ranked AS r CROSS JOIN settings AS st
        WHERE r.shown_today OR r.nth_new <= st.max_per_day - (
            SELECT count(DISTINCT s.nudge_id) FROM phoenix_nudges_sent AS s
            WHERE s.user_id = p_user_id AND s.app = p_app
              AND s.shown_at > now() - interval '1 day'
        )
    ), recorded AS (
        INSERT INTO phoenix_private.phoenix_nudge_offers
            (nudge_id, user_id, nudge_type, shown_in, target_app, variant)
        SELECT k.nudge_id, p_user_id, k.nudge_type, p_app, k.target_app, k.variant
        FROM kept AS k WHERE k.offered
        ON CONFLICT DO NOTHING
    )
    SELECT k.nudge_id, k.nudge_type, k.target_app, w.message, w.variant
    FROM kept AS k
    CROSS JOIN LATERAL phoenix_nudge_wording(k.nudge_type, k.variant, p_lang) AS w
    ORDER BY k.offered, k.rank DESC, k.detected_at, k.nudge_type COLLATE "C",
             k.nudge_id COLLATE "C";
END
$$;

-- Records that a nudge (the worker's, or an offer) was displayed, in p_app (by default
-- the app it is shown in): true. Within the cooldown a second call writes nothing and
-- still answers true (an app showing it again on a rerun or a reload). False for an
-- unknown id. The nudge is held while its display is written: a user being forgotten
-- meanwhile loses both, or the display is refused.
CREATE OR REPLACE FUNCTION phoenix_mark_nudge_shown(p_nudge_id text, p_app text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    owner text;
    shown_in text;
BEGIN
    SELECT n.user_id, n.shown_in INTO owner, shown_in
    FROM phoenix_nudges AS n WHERE n.nudge_id = p_nudge_id FOR UPDATE;
    IF owner IS NULL THEN
        SELECT o.user_id, o.shown_in INTO owner, shown_in
        FROM phoenix_private.phoenix_nudge_offers AS o WHERE o.nudge_id = p_nudge_id FOR UPDATE;
    END IF;
    IF owner IS NULL THEN
        RETURN false;
    END IF;
    PERFORM phoenix_private.phoenix_check_caller(owner);
    IF NOT EXISTS (
        SELECT 1 FROM phoenix_nudges_sent AS s
        WHERE s.nudge_id = p_nudge_id AND s.shown_at > now() - (
            SELECT coalesce(max(c.cooldown_hours), 24) FROM phoenix_nudge_settings AS c
        ) * interval '1 hour'
    ) THEN
        INSERT INTO phoenix_nudges_sent (nudge_id, user_id, app)
        VALUES (p_nudge_id, owner, coalesce(p_app, shown_in));
    END IF;
    RETURN true;
END
$$;

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

-- The scaling signal -------------------------------------------------------------------
-- What an autoscaler reads to choose how many workers to run (KEDA's PostgreSQL trigger,
-- a job runner's script): SELECT * FROM phoenix_scaling_signal(). It runs the query
-- itself, with no worker up: what it needs lives here.

-- EVENT_BATCH_SIZE, one row, written by `migrate` and at each start of a worker (the
-- newest start wins); 100, the default, until then.
CREATE TABLE IF NOT EXISTS phoenix_worker_settings (
    id         integer NOT NULL DEFAULT 1 PRIMARY KEY,
    batch_size integer NOT NULL,
    CONSTRAINT phoenix_worker_settings_one_row CHECK (id = 1),
    CONSTRAINT phoenix_worker_settings_batch_size_check CHECK (batch_size >= 1)
);
INSERT INTO phoenix_worker_settings (id, batch_size) VALUES (1, 100) ON CONFLICT DO NOTHING;
ALTER TABLE phoenix_worker_settings ENABLE ROW LEVEL SECURITY;

-- Events finished per minute and the batches that finished them (locked_by keeps the
-- batch's name): every worker's throughput, for the dashboard and /metrics.
CREATE INDEX IF NOT EXISTS ix_phoenix_events_processed_at
    ON phoenix_events (processed_at, status, locked_by) WHERE processed_at IS NOT NULL;

-- claimable: events a worker has yet to finish (pending, failed awaiting a retry, in a
-- worker's hands); those in hand are counted so that the answer holds steady while the
-- workers work, rather than stop them mid-batch. useful_workers: the smaller of one
-- worker per batch of them and the users they belong to (one user's events go to one
-- worker at a time). oldest_pending_age_seconds: null when nothing is pending.
-- It reads the claim's partial index (ix_phoenix_events_claimable): unfinished events
-- only, so it costs the same however many finished rows the table keeps.
-- SECURITY DEFINER: the autoscaler's role needs EXECUTE on it and nothing else.
CREATE OR REPLACE FUNCTION phoenix_scaling_signal()
RETURNS TABLE (claimable bigint, useful_workers integer, oldest_pending_age_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH by_user AS (  -- grouped, not count(DISTINCT): hashed, where DISTINCT sorts
        SELECT e.user_id, count(*) AS events
        FROM phoenix_events AS e
        WHERE e.status IN ('pending', 'failed', 'processing')
        GROUP BY e.user_id
    ), unfinished AS (
        SELECT coalesce(sum(events), 0)::bigint AS events, count(*) AS users FROM by_user
    ), oldest AS (
        SELECT e.received_at FROM phoenix_events AS e
        WHERE e.status = 'pending'
        ORDER BY e.id
        LIMIT 1
    ), batch AS (
        SELECT coalesce(
            (SELECT s.batch_size FROM phoenix_worker_settings AS s WHERE s.id = 1), 100
        ) AS size
    )
    SELECT u.events,
           least(ceil(u.events::numeric / b.size), u.users)::integer,
           (SELECT greatest(extract(epoch FROM now() - o.received_at), 0)::double precision
            FROM oldest AS o)
    FROM unfinished AS u, batch AS b
$$;
REVOKE ALL ON FUNCTION phoenix_scaling_signal() FROM PUBLIC;
-- Counts only, no user's data; still not for the apps' keys.
DO $scaling$
DECLARE
    grantee record;
BEGIN
    FOR grantee IN SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated') LOOP
        EXECUTE format('REVOKE ALL ON phoenix_worker_settings FROM %I', grantee.rolname);
        EXECUTE format('REVOKE ALL ON FUNCTION phoenix_scaling_signal() FROM %I',
                       grantee.rolname);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        GRANT ALL ON phoenix_worker_settings TO service_role;
        GRANT EXECUTE ON FUNCTION phoenix_scaling_signal() TO service_role;
    END IF;
END
$scaling$;

-- Row-level security -------------------------------------------------------------------
-- Enabled on every table: a role without a policy sees and writes nothing. The tables'
-- owner (the worker, `migrate`, the SQL editor's postgres user) is not limited by it.

ALTER TABLE phoenix_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_journey_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudges ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudges_sent ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudge_variants ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudge_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_apps ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_event_types ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_nudge_types ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_private.phoenix_projection_tracking ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_private.phoenix_applied_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_private.phoenix_nudge_offers ENABLE ROW LEVEL SECURITY;
-- Left by an older version on the tracking table, which it kept in public.
DROP POLICY IF EXISTS phoenix_projection_tracking_service_all
    ON phoenix_private.phoenix_projection_tracking;

-- The figures cover every user: not for the public. Nor are the nudges (the functions
-- check whose they are, and are granted below to the roles that may call them).
REVOKE ALL ON FUNCTION get_phoenix_ecosystem_stats(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION phoenix_active_nudges(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION phoenix_mark_nudge_shown(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION phoenix_nudge_wording(text, text, text) FROM PUBLIC;

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
        'phoenix_nudge_variants, phoenix_nudge_outcomes, phoenix_nudge_experiment_results, '
        'phoenix_nudge_settings, phoenix_apps, phoenix_event_types, phoenix_nudge_types';
    -- The functions of the nudges a user may call (each checks whose nudges they are).
    nudge_functions CONSTANT text := 'phoenix_active_nudges(text, text, text), '
        'phoenix_mark_nudge_shown(text, text), phoenix_nudge_wording(text, text, text)';
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
            (has_authenticated, 'phoenix_nudge_types', 'phoenix_nudge_types_user_select',
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
             'ALL', 'service_role', 'true', 'true'),
            (has_service, 'phoenix_nudge_settings', 'phoenix_nudge_settings_service_all',
             'ALL', 'service_role', 'true', 'true'),
            (has_service, 'phoenix_apps', 'phoenix_apps_service_all',
             'ALL', 'service_role', 'true', 'true'),
            (has_service, 'phoenix_event_types', 'phoenix_event_types_service_all',
             'ALL', 'service_role', 'true', 'true'),
            (has_service, 'phoenix_nudge_types', 'phoenix_nudge_types_service_all',
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
        EXECUTE format('REVOKE ALL ON phoenix_private.phoenix_nudge_offers FROM %I',
                       grantee.rolname);
    END LOOP;

    IF has_anon THEN
        EXECUTE 'REVOKE ALL ON ' || everything || ' FROM anon';
        EXECUTE format('REVOKE ALL ON SEQUENCE %s, %s FROM anon', events_seq, sent_seq);
        REVOKE ALL ON FUNCTION get_phoenix_ecosystem_stats(integer) FROM anon;
        EXECUTE 'REVOKE ALL ON FUNCTION ' || nudge_functions || ' FROM anon';
        EXECUTE 'GRANT INSERT (' || event_fields || ') ON phoenix_events TO anon';
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO anon', events_seq);
    END IF;

    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        -- Taken back even without auth.uid(): with nothing to tell users apart, nothing
        -- is granted below.
        EXECUTE 'REVOKE ALL ON ' || everything || ' FROM authenticated';
        EXECUTE format('REVOKE ALL ON SEQUENCE %s, %s FROM authenticated', events_seq, sent_seq);
        REVOKE ALL ON FUNCTION get_phoenix_ecosystem_stats(integer) FROM authenticated;
        EXECUTE 'REVOKE ALL ON FUNCTION ' || nudge_functions || ' FROM authenticated';
    END IF;

    IF has_authenticated THEN
        EXECUTE 'GRANT INSERT (' || event_fields || ') ON phoenix_events TO authenticated';
        GRANT SELECT ON phoenix_events TO authenticated;
        GRANT SELECT ON phoenix_nudges, phoenix_user_journey, phoenix_nudge_opportunities
            TO authenticated;
        GRANT INSERT (nudge_id, user_id, app) ON phoenix_nudges_sent TO authenticated;
        GRANT SELECT ON phoenix_nudge_variants, phoenix_nudge_types TO authenticated;
        EXECUTE 'GRANT EXECUTE ON FUNCTION ' || nudge_functions || ' TO authenticated';
        EXECUTE format('GRANT USAGE ON SEQUENCE %s, %s TO authenticated', events_seq, sent_seq);
    END IF;

    IF has_service THEN
        EXECUTE 'GRANT ALL ON ' || everything || ' TO service_role';
        EXECUTE format('GRANT ALL ON SEQUENCE %s, %s TO service_role', events_seq, sent_seq);
        GRANT EXECUTE ON FUNCTION get_phoenix_ecosystem_stats(integer) TO service_role;
        EXECUTE 'GRANT EXECUTE ON FUNCTION ' || nudge_functions || ' TO service_role';
    END IF;
END
$supabase$;

-- Insights ------------------------------------------------------------------------------
-- What the worker's analysers learnt from a user's events (the skills an offer asks for
-- and the CV lacks, ...): one row per insight, saved in the commit of the batch whose
-- event raised it. insight_id is derived from the kind and the source events' hashes, so
-- re-processing never adds a second row.
CREATE TABLE IF NOT EXISTS phoenix_insights (
    insight_id    text PRIMARY KEY,
    user_id       text        NOT NULL,
    kind          text        NOT NULL,
    source_hashes jsonb       NOT NULL DEFAULT '[]',
    data          jsonb       NOT NULL DEFAULT '{}',
    -- The message per language ("fr", "en").
    messages      jsonb       NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_phoenix_insights_user ON phoenix_insights (user_id, created_at);

-- The skills the skills-gap analyser noted from each offer and CV of a user: it compares
-- an offer with the latest CV whichever came first. The worker's alone.
CREATE TABLE IF NOT EXISTS phoenix_private.phoenix_skill_profiles (
    user_id    text        NOT NULL,
    kind       text        NOT NULL,
    source_id  text        NOT NULL,
    event_hash text        NOT NULL,
    skills     jsonb       NOT NULL DEFAULT '[]',
    title      text        NOT NULL DEFAULT '',
    company    text        NOT NULL DEFAULT '',
    noted_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, kind, source_id),
    CONSTRAINT phoenix_skill_profiles_kind CHECK (kind IN ('offer', 'cv'))
);

-- A user's insights, newest first, worded in p_lang (French when it has none). The one
-- home of this answer on PostgreSQL: the HTTP API, the bridge's SQL transport and
-- Supabase's REST API (rpc) call it; the SQLite store has src/application/insight_policy.py.
CREATE OR REPLACE FUNCTION phoenix_user_insights(p_user_id text, p_lang text DEFAULT 'fr')
RETURNS TABLE (insight_id text, kind text, data jsonb, message text, created_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
BEGIN
    PERFORM phoenix_private.phoenix_check_caller(p_user_id);
    RETURN QUERY
    SELECT i.insight_id, i.kind, i.data,
           coalesce(nullif(i.messages ->> p_lang, ''), i.messages ->> 'fr'),
           i.created_at
    FROM phoenix_insights AS i
    WHERE i.user_id = p_user_id
    ORDER BY i.created_at DESC, i.insight_id COLLATE "C";
END
$$;

ALTER TABLE phoenix_insights ENABLE ROW LEVEL SECURITY;
ALTER TABLE phoenix_private.phoenix_skill_profiles ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON FUNCTION phoenix_user_insights(text, text) FROM PUBLIC;

-- A signed-in user reads their own insights (the table, or the function); anon nothing;
-- the service role everything, as for the nudges. Each only where the role exists.
DO $insights$
DECLARE
    has_authenticated boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated')
        AND to_regprocedure('auth.uid()') IS NOT NULL;
    has_service boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role');
    grantee record;
BEGIN
    FOR grantee IN
        SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role')
    LOOP
        EXECUTE format('REVOKE ALL ON phoenix_insights FROM %I', grantee.rolname);
        EXECUTE format('REVOKE ALL ON phoenix_private.phoenix_skill_profiles FROM %I',
                       grantee.rolname);
        EXECUTE format('REVOKE ALL ON FUNCTION phoenix_user_insights(text, text) FROM %I',
                       grantee.rolname);
    END LOOP;
    IF has_authenticated THEN
        IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = 'phoenix_insights'
                       AND policyname = 'phoenix_insights_user_select') THEN
            CREATE POLICY phoenix_insights_user_select ON phoenix_insights FOR SELECT
                TO authenticated USING (user_id = (SELECT auth.uid()::text));
        END IF;
        GRANT SELECT ON phoenix_insights TO authenticated;
        GRANT EXECUTE ON FUNCTION phoenix_user_insights(text, text) TO authenticated;
    END IF;
    IF has_service THEN
        IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = 'phoenix_insights'
                       AND policyname = 'phoenix_insights_service_all') THEN
            CREATE POLICY phoenix_insights_service_all ON phoenix_insights FOR ALL
                TO service_role USING (true) WITH CHECK (true);
        END IF;
        GRANT ALL ON phoenix_insights TO service_role;
        GRANT EXECUTE ON FUNCTION phoenix_user_insights(text, text) TO service_role;
    END IF;
END
$insights$;
