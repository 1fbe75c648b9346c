namespace Spindle.Storage.Sqlite;

/// <summary>Numbered schema migrations, applied in order at start; each runs in its own transaction.</summary>
internal static class SqliteMigrations
{
    public static readonly IReadOnlyList<(int Version, string Sql)> All =
    [
        (1, """
            CREATE TABLE definitions (
                name TEXT NOT NULL,
                version TEXT NOT NULL,
                content_hash TEXT NOT NULL,
                definition TEXT NOT NULL,
                activity_count INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                PRIMARY KEY (name, version)
            );

            CREATE TABLE workflows (
                id TEXT PRIMARY KEY,
                definition_name TEXT NOT NULL,
                definition_version TEXT NOT NULL,
                status TEXT NOT NULL,
                input TEXT NOT NULL,
                unique_key TEXT NULL,
                error_message TEXT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                completed_at INTEGER NULL,
                deadline_at INTEGER NULL,
                total_cost TEXT NOT NULL DEFAULT '0',
                budget_limit TEXT NULL
            );
            CREATE UNIQUE INDEX ux_workflows_unique_key ON workflows (unique_key)
                WHERE unique_key IS NOT NULL AND status NOT IN ('failed', 'cancelled');
            CREATE INDEX ix_workflows_created ON workflows (created_at DESC);
            CREATE INDEX ix_workflows_deadline ON workflows (deadline_at) WHERE status = 'running';

            CREATE TABLE activity_runs (
                workflow_id TEXT NOT NULL,
                activity_key TEXT NOT NULL,
                id TEXT NOT NULL UNIQUE,
                ordinal INTEGER NOT NULL,
                worker TEXT NOT NULL,
                activity_name TEXT NOT NULL,
                status TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                attempt_base INTEGER NOT NULL,
                max_attempts INTEGER NOT NULL,
                iteration INTEGER NOT NULL,
                runs INTEGER NOT NULL,
                parameters TEXT NULL,
                delivery TEXT NULL,
                lease_seconds INTEGER NOT NULL,
                ready_at INTEGER NULL,
                lease_owner TEXT NULL,
                lease_until INTEGER NULL,
                outputs TEXT NULL,
                error_code TEXT NULL,
                error_message TEXT NULL,
                started_at INTEGER NULL,
                claimed_at INTEGER NULL,
                completed_at INTEGER NULL,
                cost TEXT NOT NULL DEFAULT '0',
                cancel_requested INTEGER NOT NULL DEFAULT 0,
                signal_data TEXT NULL,
                signal_wait_until INTEGER NULL,
                signal_satisfied INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (workflow_id, activity_key)
            ) WITHOUT ROWID;
            CREATE INDEX ix_activity_runs_claim ON activity_runs (worker, ready_at) WHERE status = 'pending';
            CREATE INDEX ix_activity_runs_lease ON activity_runs (lease_until) WHERE status = 'running';
            CREATE INDEX ix_activity_runs_signal ON activity_runs (signal_wait_until) WHERE status = 'waiting';

            CREATE TABLE events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                workflow_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                activity_key TEXT NULL,
                iteration INTEGER NULL,
                payload TEXT NOT NULL,
                created_at INTEGER NOT NULL
            );
            CREATE INDEX ix_events_workflow ON events (workflow_id, seq);
            """),
        (2, """
            CREATE TABLE oauth_clients (
                client_id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                scopes TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                revoked_at INTEGER NULL
            );
            """),
        (3, """
            CREATE TABLE cost_lines (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                workflow_id TEXT NOT NULL,
                activity_key TEXT NOT NULL,
                iteration INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                provider TEXT NULL,
                model TEXT NULL,
                input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                cache_read_tokens INTEGER NOT NULL,
                cache_creation_tokens INTEGER NOT NULL,
                cache_storage_token_hours TEXT NOT NULL,
                cost_usd TEXT NOT NULL,
                budget_limit_usd TEXT NULL,
                budget_event TEXT NULL,
                estimated_cost_usd TEXT NULL,
                created_at INTEGER NOT NULL
            );
            CREATE INDEX ix_cost_lines_workflow ON cost_lines (workflow_id, seq);
            CREATE INDEX ix_cost_lines_created ON cost_lines (created_at);

            CREATE TABLE result_cache (
                key TEXT PRIMARY KEY,
                outputs TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX ix_result_cache_expires ON result_cache (expires_at);
            """),
        (4, """
            CREATE TABLE activity_files (
                workflow_id TEXT NOT NULL,
                activity_key TEXT NOT NULL,
                filename TEXT NOT NULL,
                content_type TEXT NOT NULL,
                size INTEGER NOT NULL,
                content BLOB NOT NULL,
                created_at INTEGER NOT NULL,
                PRIMARY KEY (workflow_id, activity_key, filename)
            );
            """),
        // Which parameter leaves printed secrets and how to rebuild them at hand-out; the values are never stored.
        (5, """
            ALTER TABLE activity_runs ADD COLUMN secret_parameters TEXT NULL;
            """),
        // Schedules (recurring submissions): the user's fields as JSON in spec, the state the scheduler keeps in columns;
        // due_at is null while disabled or finished. Runs a schedule started carry its id and occurrence.
        (6, """
            CREATE TABLE schedules (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                spec TEXT NOT NULL,
                enabled INTEGER NOT NULL,
                anchor_at INTEGER NOT NULL,
                next_run_at INTEGER NULL,
                due_at INTEGER NULL,
                last_run_at INTEGER NULL,
                last_workflow_id TEXT NULL,
                buffered_at INTEGER NULL,
                run_count INTEGER NOT NULL DEFAULT 0,
                skipped_count INTEGER NOT NULL DEFAULT 0,
                pause_note TEXT NULL,
                declared_by TEXT NULL,
                created_by TEXT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE INDEX ix_schedules_due ON schedules (due_at) WHERE due_at IS NOT NULL;
            CREATE INDEX ix_schedules_declared ON schedules (declared_by) WHERE declared_by IS NOT NULL;
            CREATE TABLE schedule_runs (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                schedule_id TEXT NOT NULL,
                occurrence_at INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                workflow_id TEXT NULL,
                message TEXT NULL,
                created_at INTEGER NOT NULL
            );
            CREATE INDEX ix_schedule_runs_schedule ON schedule_runs (schedule_id, seq);
            ALTER TABLE workflows ADD COLUMN schedule_id TEXT NULL;
            ALTER TABLE workflows ADD COLUMN scheduled_at INTEGER NULL;
            CREATE INDEX ix_workflows_schedule ON workflows (schedule_id, created_at) WHERE schedule_id IS NOT NULL;
            """),
        // Workers seen polling, per routing key (GET /api/v1/queues): one row per worker id, refreshed at most every few
        // seconds per worker by the server it polls, pruned when not seen for an hour.
        (7, """
            CREATE TABLE worker_presence (
                routing_key TEXT NOT NULL,
                worker_id TEXT NOT NULL,
                first_seen_at INTEGER NOT NULL,
                last_seen_at INTEGER NOT NULL,
                slots INTEGER NOT NULL,
                PRIMARY KEY (routing_key, worker_id)
            ) WITHOUT ROWID;
            CREATE INDEX ix_worker_presence_seen ON worker_presence (last_seen_at);
            """),
        // Keyset paging of the runs list (created_at DESC, id DESC after a cursor), unfiltered and by the two common
        // filters; (created_at, id) replaces the index on created_at alone.
        (8, """
            DROP INDEX IF EXISTS ix_workflows_created;
            CREATE INDEX ix_workflows_created_id ON workflows (created_at, id);
            CREATE INDEX ix_workflows_status_created ON workflows (status, created_at, id);
            CREATE INDEX ix_workflows_definition_created ON workflows (definition_name, created_at, id);
            """),
        // Maps (for_each): each item is an activity_runs row of its own, keyed "key[index]", naming its map (map_of),
        // position and list element; the map's row keeps its counts in map_state. A workflow loads without its
        // items (map_of IS NULL), a decision loads the items it needs by (workflow, map, index): one index serves both.
        (9, """
            ALTER TABLE activity_runs ADD COLUMN map_of TEXT NULL;
            ALTER TABLE activity_runs ADD COLUMN map_index INTEGER NULL;
            ALTER TABLE activity_runs ADD COLUMN map_item TEXT NULL;
            ALTER TABLE activity_runs ADD COLUMN map_state TEXT NULL;
            CREATE INDEX ix_activity_runs_map ON activity_runs (workflow_id, map_of, map_index);
            """),
        // Queueing (concurrency, rate_limit, priority): the activity's settings on its row, the claim's order as an
        // expression (ready_at less 10 s per priority point, so that waiting ages an activity up), one claim index for
        // activities without limits and one for those with, the running rows per concurrency key, and one token
        // bucket per rate key. The claim statement enforces them (docs/architecture.md).
        (10, """
            ALTER TABLE activity_runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE activity_runs ADD COLUMN concurrency_key TEXT NULL;
            ALTER TABLE activity_runs ADD COLUMN concurrency_limit INTEGER NULL;
            ALTER TABLE activity_runs ADD COLUMN rate_key TEXT NULL;
            ALTER TABLE activity_runs ADD COLUMN rate_per_second REAL NULL;
            ALTER TABLE activity_runs ADD COLUMN rate_burst REAL NULL;
            ALTER TABLE workflows ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
            DROP INDEX ix_activity_runs_claim;
            CREATE INDEX ix_activity_runs_claim ON activity_runs (worker, (ready_at - priority * 10000000))
                WHERE status = 'pending' AND concurrency_key IS NULL AND rate_key IS NULL;
            CREATE INDEX ix_activity_runs_claim_gated ON activity_runs (worker, (ready_at - priority * 10000000))
                WHERE status = 'pending' AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL);
            CREATE INDEX ix_activity_runs_concurrency ON activity_runs (concurrency_key)
                WHERE status = 'running' AND concurrency_key IS NOT NULL;
            CREATE TABLE rate_buckets (
                key TEXT PRIMARY KEY,
                tokens REAL NOT NULL,
                refilled_at INTEGER NOT NULL
            );
            """),
        // Child workflows: the link to the parent's activity instance (id and attempt), written with the child's row
        // in the transaction that starts it; the index finds a workflow's children (read API, cancel cascade).
        (11, """
            ALTER TABLE workflows ADD COLUMN parent_id TEXT NULL;
            ALTER TABLE workflows ADD COLUMN parent_activity_key TEXT NULL;
            ALTER TABLE workflows ADD COLUMN parent_activity_id TEXT NULL;
            ALTER TABLE workflows ADD COLUMN parent_attempt INTEGER NULL;
            CREATE INDEX ix_workflows_parent ON workflows (parent_id, created_at) WHERE parent_id IS NOT NULL;
            """),
        // Workflow-level concurrency: the run's rendered key; the index counts a key's running runs and finds its
        // waiting ('created') runs in submit order (docs/architecture.md#workflow-level-concurrency).
        (12, """
            ALTER TABLE workflows ADD COLUMN concurrency_key TEXT NULL;
            CREATE INDEX ix_workflows_concurrency ON workflows (definition_name, concurrency_key, status, created_at, id)
                WHERE concurrency_key IS NOT NULL;
            """),
        // The deadline timer asks for running workflows with deadline_at <= now, which implies a deadline; without
        // one (the default) a run no longer gets an index entry on submit.
        (13, """
            DROP INDEX ix_workflows_deadline;
            CREATE INDEX ix_workflows_deadline ON workflows (deadline_at) WHERE status = 'running' AND deadline_at IS NOT NULL;
            """),
        // One-time codes (stream tickets, web UI sign-in codes), shared by every server of a cluster: a hash of the
        // code, what it grants, and when it expires. The expiry index serves the purge, the client index the limit.
        (14, """
            CREATE TABLE one_time_codes (
                code_hash TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                client_id TEXT NOT NULL,
                scopes TEXT NOT NULL,
                issued_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX ix_one_time_codes_expiry ON one_time_codes (expires_at);
            CREATE INDEX ix_one_time_codes_client ON one_time_codes (client_id, kind);
            """),
    ];

    public static int Latest => All[^1].Version;
}
