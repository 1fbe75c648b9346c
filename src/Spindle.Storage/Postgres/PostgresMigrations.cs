namespace Spindle.Storage.Postgres;

/// <summary>
/// Numbered schema migrations, applied in order at start under an advisory lock (several servers may start at
/// once); each runs in its own transaction. Times are Unix microseconds in <c>bigint</c>, as on SQLite, so that both
/// backends share the engine's clock and row shapes. JSON is stored as <c>json</c>, not <c>jsonb</c>, because
/// <c>jsonb</c> reorders object keys and parameters and outputs must come back exactly as written.
/// </summary>
internal static class PostgresMigrations
{
    /// <summary>Key of the session advisory lock held while migrating ("SPINDLE" + 1).</summary>
    public const long AdvisoryLockKey = 0x5350_494E_444C_0001;

    public static readonly IReadOnlyList<(int Version, string Sql)> All =
    [
        (1, """
            CREATE TABLE definitions (
                name text NOT NULL,
                version text NOT NULL,
                content_hash text NOT NULL,
                definition json NOT NULL,
                activity_count integer NOT NULL,
                created_at bigint NOT NULL,
                PRIMARY KEY (name, version)
            );

            CREATE TABLE workflows (
                id text PRIMARY KEY,
                definition_name text NOT NULL,
                definition_version text NOT NULL,
                status text NOT NULL,
                input json NOT NULL,
                unique_key text NULL,
                error_message text NULL,
                created_at bigint NOT NULL,
                updated_at bigint NOT NULL,
                completed_at bigint NULL,
                deadline_at bigint NULL,
                total_cost numeric NOT NULL DEFAULT 0,
                budget_limit numeric NULL
            ) WITH (fillfactor = 80);
            CREATE UNIQUE INDEX ux_workflows_unique_key ON workflows (unique_key)
                WHERE unique_key IS NOT NULL AND status NOT IN ('failed', 'cancelled');
            CREATE INDEX ix_workflows_created ON workflows (created_at DESC, id DESC);
            CREATE INDEX ix_workflows_deadline ON workflows (deadline_at) WHERE status = 'running';

            -- This table is the queue. Rows are updated in place on every step, so leave room for HOT updates.
            CREATE TABLE activity_runs (
                workflow_id text NOT NULL,
                activity_key text NOT NULL,
                id text NOT NULL UNIQUE,
                ordinal integer NOT NULL,
                worker text NOT NULL,
                activity_name text NOT NULL,
                status text NOT NULL,
                attempt integer NOT NULL,
                attempt_base integer NOT NULL,
                max_attempts integer NOT NULL,
                iteration integer NOT NULL,
                runs integer NOT NULL,
                parameters json NULL,
                delivery json NULL,
                lease_seconds integer NOT NULL,
                ready_at bigint NULL,
                lease_owner text NULL,
                lease_until bigint NULL,
                outputs json NULL,
                error_code text NULL,
                error_message text NULL,
                started_at bigint NULL,
                claimed_at bigint NULL,
                completed_at bigint NULL,
                cost numeric NOT NULL DEFAULT 0,
                cancel_requested boolean NOT NULL DEFAULT false,
                signal_data json NULL,
                signal_wait_until bigint NULL,
                signal_satisfied boolean NOT NULL DEFAULT false,
                PRIMARY KEY (workflow_id, activity_key)
            ) WITH (fillfactor = 70);
            -- Claimable rows only: the claim's inner SELECT walks this index in ready_at order.
            CREATE INDEX ix_activity_runs_claim ON activity_runs (worker, ready_at) WHERE status = 'pending';
            CREATE INDEX ix_activity_runs_lease ON activity_runs (lease_until) WHERE status = 'running';
            CREATE INDEX ix_activity_runs_signal ON activity_runs (signal_wait_until) WHERE status = 'waiting';

            CREATE TABLE events (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                workflow_id text NOT NULL,
                event_type text NOT NULL,
                activity_key text NULL,
                iteration integer NULL,
                payload json NOT NULL,
                created_at bigint NOT NULL
            );
            CREATE INDEX ix_events_workflow ON events (workflow_id, seq);

            -- Time-ordered ids (UUIDv7, as the engine's Ids.New) for events written by SQL alone: the claim
            -- statement records ActivityStarted without a second round trip.
            CREATE FUNCTION spindle_uuid_v7() RETURNS text LANGUAGE sql VOLATILE AS $$
                SELECT encode(set_bit(set_bit(
                    overlay(uuid_send(gen_random_uuid())
                            PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                            FROM 1 FOR 6),
                    52, 1), 53, 1), 'hex')::uuid::text
            $$;
            """),
        (2, """
            CREATE TABLE oauth_clients (
                client_id text PRIMARY KEY,
                name text NOT NULL,
                secret_hash text NOT NULL,
                scopes text NOT NULL,
                created_at bigint NOT NULL,
                revoked_at bigint NULL
            );
            """),
        (3, """
            CREATE TABLE cost_lines (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                workflow_id text NOT NULL,
                activity_key text NOT NULL,
                iteration integer NOT NULL,
                attempt integer NOT NULL,
                provider text NULL,
                model text NULL,
                input_tokens bigint NOT NULL,
                output_tokens bigint NOT NULL,
                cache_read_tokens bigint NOT NULL,
                cache_creation_tokens bigint NOT NULL,
                cache_storage_token_hours numeric NOT NULL,
                cost_usd numeric NOT NULL,
                budget_limit_usd numeric NULL,
                budget_event text NULL,
                estimated_cost_usd numeric NULL,
                created_at bigint NOT NULL
            );
            CREATE INDEX ix_cost_lines_workflow ON cost_lines (workflow_id, seq);
            CREATE INDEX ix_cost_lines_created ON cost_lines (created_at);

            CREATE TABLE result_cache (
                key text PRIMARY KEY,
                outputs json NOT NULL,
                created_at bigint NOT NULL,
                expires_at bigint NOT NULL
            );
            CREATE INDEX ix_result_cache_expires ON result_cache (expires_at);
            """),
        (4, """
            CREATE TABLE activity_files (
                workflow_id text NOT NULL,
                activity_key text NOT NULL,
                filename text NOT NULL,
                content_type text NOT NULL,
                size bigint NOT NULL,
                content bytea NOT NULL,
                created_at bigint NOT NULL,
                PRIMARY KEY (workflow_id, activity_key, filename)
            );
            """),
        // Lets a write transaction send its guarded row updates and COMMIT in one batch: a guard that matched no
        // row aborts the transaction (as a serialization failure, which the store retries) before the COMMIT runs.
        (5, """
            CREATE FUNCTION spindle_require_rows(matched bigint, what text) RETURNS bigint LANGUAGE plpgsql AS $$
            BEGIN
                IF matched = 0 THEN
                    RAISE EXCEPTION '% changed under the transaction', what USING ERRCODE = 'serialization_failure';
                END IF;
                RETURN matched;
            END
            $$;
            """),
        // Which parameter leaves printed secrets and how to rebuild them at hand-out; the values are never stored.
        (6, """
            ALTER TABLE activity_runs ADD COLUMN secret_parameters json NULL;
            """),
        // Schedules (recurring submissions): the user's fields as JSON in spec, the state the scheduler keeps in columns;
        // due_at is null while disabled or finished. Runs a schedule started carry its id and occurrence.
        (7, """
            CREATE TABLE schedules (
                id text PRIMARY KEY,
                name text NOT NULL UNIQUE,
                spec json NOT NULL,
                enabled boolean NOT NULL,
                anchor_at bigint NOT NULL,
                next_run_at bigint NULL,
                due_at bigint NULL,
                last_run_at bigint NULL,
                last_workflow_id text NULL,
                buffered_at bigint NULL,
                run_count integer NOT NULL DEFAULT 0,
                skipped_count integer NOT NULL DEFAULT 0,
                pause_note text NULL,
                declared_by text NULL,
                created_by text NULL,
                created_at bigint NOT NULL,
                updated_at bigint NOT NULL
            );
            CREATE INDEX ix_schedules_due ON schedules (due_at) WHERE due_at IS NOT NULL;
            CREATE INDEX ix_schedules_declared ON schedules (declared_by) WHERE declared_by IS NOT NULL;
            CREATE TABLE schedule_runs (
                seq bigserial PRIMARY KEY,
                schedule_id text NOT NULL,
                occurrence_at bigint NOT NULL,
                outcome text NOT NULL,
                workflow_id text NULL,
                message text NULL,
                created_at bigint NOT NULL
            );
            CREATE INDEX ix_schedule_runs_schedule ON schedule_runs (schedule_id, seq);
            ALTER TABLE workflows ADD COLUMN schedule_id text NULL;
            ALTER TABLE workflows ADD COLUMN scheduled_at bigint NULL;
            CREATE INDEX ix_workflows_schedule ON workflows (schedule_id, created_at) WHERE schedule_id IS NOT NULL;
            """),
        // Workers seen polling, per routing key (GET /api/v1/queues): one row per worker id, refreshed at most every few
        // seconds per worker by the server it polls, pruned when not seen for an hour.
        (8, """
            CREATE TABLE worker_presence (
                routing_key text NOT NULL,
                worker_id text NOT NULL,
                first_seen_at bigint NOT NULL,
                last_seen_at bigint NOT NULL,
                slots integer NOT NULL,
                PRIMARY KEY (routing_key, worker_id)
            );
            CREATE INDEX ix_worker_presence_seen ON worker_presence (last_seen_at);
            """),
        // Keyset paging of the runs list (created_at DESC, id DESC after a cursor) by the two common filters (the
        // unfiltered order has ix_workflows_created), and id-prefix search whatever the database's collation.
        (9, """
            CREATE INDEX ix_workflows_status_created ON workflows (status, created_at, id);
            CREATE INDEX ix_workflows_definition_created ON workflows (definition_name, created_at, id);
            CREATE INDEX ix_workflows_id_pattern ON workflows (id text_pattern_ops);
            """),
        // Stream subscriber counts per server (events feed, activity streams), kept alive by a heartbeat, so that a
        // server sends the events notification only while some server listens, and counts are cluster-wide.
        (10, """
            CREATE TABLE stream_subscribers (
                server_id text NOT NULL,
                stream text NOT NULL,
                subscribers integer NOT NULL,
                expires_at bigint NOT NULL,
                PRIMARY KEY (server_id, stream)
            );
            CREATE INDEX ix_stream_subscribers_stream ON stream_subscribers (stream);
            """),
        // Maps (for_each): each item is an activity_runs row of its own, keyed "key[index]", naming its map (map_of),
        // position and list element; the map's row keeps its counts in map_state. A workflow loads without its
        // items (map_of IS NULL), a decision loads the items it needs by (workflow, map, index): one index serves both.
        (11, """
            ALTER TABLE activity_runs ADD COLUMN map_of text NULL;
            ALTER TABLE activity_runs ADD COLUMN map_index integer NULL;
            ALTER TABLE activity_runs ADD COLUMN map_item json NULL;
            ALTER TABLE activity_runs ADD COLUMN map_state json NULL;
            CREATE INDEX ix_activity_runs_map ON activity_runs (workflow_id, map_of, map_index);
            """),
        // Queueing (concurrency, rate_limit, priority): the activity's settings on its row, the claim's order as an
        // expression (ready_at less 10 s per priority point, so that waiting ages an activity up), one claim index for
        // activities without limits and one for those with, the running rows per concurrency key, and one token
        // bucket per rate key. The claim statement enforces them (docs/architecture.md).
        (12, """
            ALTER TABLE activity_runs ADD COLUMN priority integer NOT NULL DEFAULT 0;
            ALTER TABLE activity_runs ADD COLUMN concurrency_key text NULL;
            ALTER TABLE activity_runs ADD COLUMN concurrency_limit integer NULL;
            ALTER TABLE activity_runs ADD COLUMN rate_key text NULL;
            ALTER TABLE activity_runs ADD COLUMN rate_per_second float8 NULL;
            ALTER TABLE activity_runs ADD COLUMN rate_burst float8 NULL;
            ALTER TABLE workflows ADD COLUMN priority integer NOT NULL DEFAULT 0;
            DROP INDEX ix_activity_runs_claim;
            CREATE INDEX ix_activity_runs_claim ON activity_runs (worker, (ready_at - priority * 10000000::bigint))
                WHERE status = 'pending' AND concurrency_key IS NULL AND rate_key IS NULL;
            CREATE INDEX ix_activity_runs_claim_gated ON activity_runs (worker, (ready_at - priority * 10000000::bigint))
                WHERE status = 'pending' AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL);
            CREATE INDEX ix_activity_runs_concurrency ON activity_runs (concurrency_key)
                WHERE status = 'running' AND concurrency_key IS NOT NULL;
            CREATE TABLE rate_buckets (
                key text PRIMARY KEY,
                tokens float8 NOT NULL,
                refilled_at bigint NOT NULL
            );
            """),
        // Child workflows: the link to the parent's activity instance (id and attempt), written with the child's row
        // in the transaction that starts it; the index finds a workflow's children (read API, cancel cascade).
        (13, """
            ALTER TABLE workflows ADD COLUMN parent_id text NULL;
            ALTER TABLE workflows ADD COLUMN parent_activity_key text NULL;
            ALTER TABLE workflows ADD COLUMN parent_activity_id text NULL;
            ALTER TABLE workflows ADD COLUMN parent_attempt integer NULL;
            CREATE INDEX ix_workflows_parent ON workflows (parent_id, created_at) WHERE parent_id IS NOT NULL;
            """),
        // Workflow-level concurrency: the run's rendered key; the index counts a key's running runs and finds its
        // waiting ('created') runs in submit order (docs/architecture.md#workflow-level-concurrency).
        (14, """
            ALTER TABLE workflows ADD COLUMN concurrency_key text NULL;
            CREATE INDEX ix_workflows_concurrency ON workflows (definition_name, concurrency_key, status, created_at, id)
                WHERE concurrency_key IS NOT NULL;
            """),
        // The deadline timer asks for running workflows with deadline_at <= now, which implies a deadline; without
        // one (the default) a run no longer gets an index entry on submit.
        (15, """
            DROP INDEX ix_workflows_deadline;
            CREATE INDEX ix_workflows_deadline ON workflows (deadline_at) WHERE status = 'running' AND deadline_at IS NOT NULL;
            """),
        // One-time codes (stream tickets, web UI sign-in codes), shared by every server of a cluster: a hash of the
        // code, what it grants, and when it expires. The expiry index serves the purge, the client index the limit.
        (16, """
            CREATE TABLE one_time_codes (
                code_hash text PRIMARY KEY,
                kind text NOT NULL,
                client_id text NOT NULL,
                scopes text NOT NULL,
                issued_at bigint NOT NULL,
                expires_at bigint NOT NULL
            );
            CREATE INDEX ix_one_time_codes_expiry ON one_time_codes (expires_at);
            CREATE INDEX ix_one_time_codes_client ON one_time_codes (client_id, kind);
            """),
    ];

    public static int Latest => All[^1].Version;
}
