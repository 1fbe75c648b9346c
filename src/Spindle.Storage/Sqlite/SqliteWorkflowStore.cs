using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. SQLite has one writer, so writes go through one connection
/// guarded by a lock (no SQLITE_BUSY retries on the hot path) while reads use pooled connections in parallel.
/// </summary>
public sealed partial class SqliteWorkflowStore : TransactionalWorkflowStore
{
    private static readonly SqliteRowReader Row = SqliteRowReader.Instance;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Dictionary<string, SqliteCommand> _writerCommands = new(StringComparer.Ordinal);
    private SqliteConnection? _writer;

    public SqliteWorkflowStore(string databasePath, EngineDefaults defaults, IStoreNotifier? notifier = null)
        : base(defaults, notifier)
    {
        PrivateDatabaseFile.Ensure(databasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var conn = Writer();
            Exec(conn, null, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
            long current;
            using (var cmd = conn.CreateCommand())
            {
                cmd.CommandText = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
                current = (long)cmd.ExecuteScalar()!;
            }
            if (current > SqliteMigrations.Latest)
            {
                throw new SchemaTooNewException((int)current, SqliteMigrations.Latest, "Upgrade Spindle, or point --data-dir at another directory.");
            }
            foreach (var (version, sql) in SqliteMigrations.All)
            {
                if (version <= current)
                {
                    continue;
                }
                using var tx = conn.BeginTransaction();
                Exec(conn, tx, sql);
                using (var cmd = conn.CreateCommand())
                {
                    cmd.Transaction = tx;
                    cmd.CommandText = "INSERT INTO schema_migrations (version, applied_at) VALUES ($v, $t)";
                    cmd.Parameters.AddWithValue("$v", version);
                    cmd.Parameters.AddWithValue("$t", Timestamps.Now());
                    cmd.ExecuteNonQuery();
                }
                tx.Commit();
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    // ---- definitions ------------------------------------------------------------------------------------------

    public override Task<DeployOutcome> DeployAsync(WorkflowDefinition definition, CancellationToken cancellationToken) =>
        LockedWriteAsync(tx =>
        {
            string? latestVersion = null;
            string? latestHash = null;
            long latestCreated = 0;
            {
                var cmd = tx.Command("SELECT version, content_hash, created_at FROM definitions WHERE name = $name ORDER BY version DESC LIMIT 1");
                ActivityRows.Set(cmd, "$name", definition.Name);
                using var r = cmd.ExecuteReader();
                if (r.Read())
                {
                    latestVersion = r.GetString(0);
                    latestHash = r.GetString(1);
                    latestCreated = r.GetInt64(2);
                }
            }
            if (latestHash == definition.ContentHash)
            {
                return new DeployOutcome(definition.Name, latestVersion!, latestCreated, Unchanged: true);
            }
            var now = Now();
            var version = DefinitionVersions.Next(now, latestVersion);
            {
                var cmd = tx.Command(
                "INSERT INTO definitions (name, version, content_hash, definition, activity_count, created_at) VALUES ($name, $version, $hash, $def, $count, $created)");
                ActivityRows.Set(cmd, "$name", definition.Name);
                ActivityRows.Set(cmd, "$version", version);
                ActivityRows.Set(cmd, "$hash", definition.ContentHash);
                ActivityRows.Set(cmd, "$def", definition.NormalizedJson.ToJsonString());
                ActivityRows.Set(cmd, "$count", definition.Activities.Count);
                ActivityRows.Set(cmd, "$created", now);
                cmd.ExecuteNonQuery();
            }
            Definitions.Add(definition.Name, version, definition);
            return new DeployOutcome(definition.Name, version, now, Unchanged: false);
        }, cancellationToken);

    public override async Task<IReadOnlyList<DefinitionSummary>> ListDefinitionsAsync(CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT {RowReader.DefinitionSummaryColumns} FROM definitions ORDER BY name, version DESC";
        var list = new List<DefinitionSummary>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(RowReader.DefinitionSummary(r));
        }
        return list;
    }

    public override async Task<StoredDefinition?> GetDefinitionAsync(string name, string? version, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        return SqliteWorkflowLoader.ReadDefinition(conn, null, Definitions, name, version);
    }

    public override async Task<WorkflowState?> GetWorkflowAsync(string workflowId, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        return SqliteWorkflowLoader.LoadWorkflow(conn, null, Definitions, workflowId);
    }

    public override async Task<string?> GetWorkflowStatusAsync(string workflowId, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT status FROM workflows WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", workflowId);
        return (string?)await cmd.ExecuteScalarAsync(cancellationToken);
    }

    public override async Task<IReadOnlyList<ChildLink>> ListChildrenAsync(string workflowId, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT {RowReader.ChildLinkColumns} FROM workflows WHERE parent_id = $id ORDER BY created_at, id";
        cmd.Parameters.AddWithValue("$id", workflowId);
        var links = new List<ChildLink>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            links.Add(RowReader.ChildLink(r));
        }
        return links;
    }

    public override async Task<(IReadOnlyList<WorkflowSummary> Items, int Total)> ListWorkflowsAsync(WorkflowQuery query, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        var where = new StringBuilder(" WHERE 1 = 1");
        void Bind(SqliteCommand c)
        {
            if (query.Status is not null) c.Parameters.AddWithValue("$status", query.Status);
            if (query.DefinitionName is not null) c.Parameters.AddWithValue("$name", query.DefinitionName);
            if (query.CreatedAfter is not null) c.Parameters.AddWithValue("$after", query.CreatedAfter);
            if (query.CreatedBefore is not null) c.Parameters.AddWithValue("$before", query.CreatedBefore);
            if (query.ScheduleId is not null) c.Parameters.AddWithValue("$schedule", query.ScheduleId);
            if (query.IdPrefix is not null)
            {
                // Ids are lowercase hex and dashes, all below 'g' in byte order: [prefix, prefix + "g") is exactly the
                // ids starting with it, and a range the primary key's index answers (LIKE would not use it).
                c.Parameters.AddWithValue("$idlo", query.IdPrefix);
                c.Parameters.AddWithValue("$idhi", query.IdPrefix + "g");
            }
        }
        if (query.Status is not null) where.Append(" AND status = $status");
        if (query.DefinitionName is not null) where.Append(" AND definition_name = $name");
        if (query.CreatedAfter is not null) where.Append(" AND created_at > $after");
        if (query.CreatedBefore is not null) where.Append(" AND created_at < $before");
        if (query.ScheduleId is not null) where.Append(" AND schedule_id = $schedule");
        if (query.IdPrefix is not null) where.Append(" AND id >= $idlo AND id < $idhi");

        int total;
        await using (var count = conn.CreateCommand())
        {
            count.CommandText = "SELECT COUNT(*) FROM workflows" + where;
            Bind(count);
            total = Convert.ToInt32(await count.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        }
        await using var cmd = conn.CreateCommand();
        var backward = query.Cursor is { Backward: true };
        var page = new StringBuilder(where.ToString());
        if (query.Cursor is { } cursor)
        {
            // Row values keep the keyset one range of the (…, created_at, id) indexes.
            page.Append(backward ? " AND (created_at, id) > ($ccreated, $cid)" : " AND (created_at, id) < ($ccreated, $cid)");
            cmd.Parameters.AddWithValue("$ccreated", cursor.CreatedAt);
            cmd.Parameters.AddWithValue("$cid", cursor.Id);
        }
        cmd.CommandText = $"SELECT {RowReader.WorkflowSummaryColumns} FROM workflows" + page +
                          (backward ? " ORDER BY created_at, id" : " ORDER BY created_at DESC, id DESC") + " LIMIT $limit OFFSET $offset";
        Bind(cmd);
        cmd.Parameters.AddWithValue("$limit", query.Limit);
        cmd.Parameters.AddWithValue("$offset", query.Offset);
        var items = new List<WorkflowSummary>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            items.Add(Row.WorkflowSummary(r));
        }
        if (backward)
        {
            items.Reverse();
        }
        return (items, total);
    }

    // ---- worker protocol --------------------------------------------------------------------------------------

    protected override async Task<IReadOnlyList<ClaimedActivity>> ClaimActivitiesAsync(ClaimCommand command, CancellationToken cancellationToken)
    {
        var (claimed, retryAt) = await LockedWriteAsync(tx => SqliteClaim.Run(tx, command, Now()), cancellationToken);
        if (retryAt is { } at)
        {
            Notifier.ActivitiesDelayed(command.RoutingKey, at); // a rate-limited activity gets its token then
        }
        return claimed;
    }

    public override Task<HeartbeatOutcome> HeartbeatAsync(string activityId, string workerId, CancellationToken cancellationToken) =>
        LockedWriteAsync(tx =>
        {
            var now = Now();
            {
                var cmd = tx.Command(
                "UPDATE activity_runs SET lease_until = $now + lease_seconds * 1000000 " +
                "WHERE id = $id AND status = 'running' AND lease_owner = $owner RETURNING lease_seconds, cancel_requested");
                ActivityRows.Set(cmd, "$now", now);
                ActivityRows.Set(cmd, "$id", activityId);
                ActivityRows.Set(cmd, "$owner", workerId);
                using var r = cmd.ExecuteReader();
                if (r.Read())
                {
                    return new HeartbeatOutcome(StoreStatus.Ok, true, r.GetInt32(0), r.GetInt64(1) != 0);
                }
            }
            var probe = tx.Command("SELECT status, lease_seconds FROM activity_runs WHERE id = $id");
            ActivityRows.Set(probe, "$id", activityId);
            using var pr = probe.ExecuteReader();
            if (!pr.Read())
            {
                return new HeartbeatOutcome(StoreStatus.NotFound, false, 0, false);
            }
            var status = pr.GetString(0);
            return status is ActivityStatus.Completed or ActivityStatus.Failed
                ? new HeartbeatOutcome(StoreStatus.Ok, false, pr.GetInt32(1), false)
                : new HeartbeatOutcome(StoreStatus.Conflict, false, 0, false);
        }, cancellationToken);

    public override async Task<EventPage?> GetEventsAsync(string workflowId, string? afterEventId, int limit, IReadOnlySet<string>? eventTypes, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using (var exists = conn.CreateCommand())
        {
            exists.CommandText = "SELECT 1 FROM workflows WHERE id = $id";
            exists.Parameters.AddWithValue("$id", workflowId);
            if (await exists.ExecuteScalarAsync(cancellationToken) is null)
            {
                return null;
            }
        }
        await using var cmd = conn.CreateCommand();
        var sql = new StringBuilder($"SELECT {RowReader.EventColumns} FROM events WHERE workflow_id = $wf");
        cmd.Parameters.AddWithValue("$wf", workflowId);
        if (afterEventId is not null)
        {
            sql.Append(" AND seq > COALESCE((SELECT seq FROM events WHERE id = $after), 0)");
            cmd.Parameters.AddWithValue("$after", afterEventId);
        }
        if (eventTypes is { Count: > 0 })
        {
            sql.Append(" AND event_type IN (");
            var i = 0;
            foreach (var t in eventTypes)
            {
                var name = "$t" + i.ToString(CultureInfo.InvariantCulture);
                sql.Append(i++ == 0 ? name : ", " + name);
                cmd.Parameters.AddWithValue(name, t);
            }
            sql.Append(')');
        }
        sql.Append(" ORDER BY seq LIMIT $limit");
        cmd.Parameters.AddWithValue("$limit", limit + 1);
        cmd.CommandText = sql.ToString();
        var events = new List<StoredEvent>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            events.Add(RowReader.Event(r, workflowId));
        }
        var hasMore = events.Count > limit;
        if (hasMore)
        {
            events.RemoveAt(events.Count - 1);
        }
        return new EventPage(events, hasMore);
    }

    // ---- timers -----------------------------------------------------------------------------------------------

    protected override async Task<IReadOnlyList<(string WorkflowId, string? ActivityKey)>> FindDueAsync(DueTimer kind, long now,
        CancellationToken cancellationToken)
    {
        var sql = kind switch
        {
            DueTimer.ExpiredLease => "SELECT workflow_id, activity_key FROM activity_runs WHERE status = 'running' AND lease_until < $now LIMIT $limit",
            DueTimer.SignalTimeout => "SELECT workflow_id, activity_key FROM activity_runs WHERE status = 'waiting' AND signal_wait_until <= $now LIMIT $limit",
            _ => "SELECT id, NULL FROM workflows WHERE status = 'running' AND deadline_at <= $now LIMIT $limit",
        };
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$now", now);
        cmd.Parameters.AddWithValue("$limit", TimerBatch);
        var list = new List<(string, string?)>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add((r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)));
        }
        return list;
    }

    public override async Task<IReadOnlyList<(string RoutingKey, long ReadyAt)>> GetDelayedAsync(CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = DelayedSql;
        var list = new List<(string, long)>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add((r.GetString(0), r.GetInt64(1)));
        }
        return list;
    }

    // ---- costs and the result cache -------------------------------------------------------------------------

    public override async Task<IReadOnlyList<StoredCostLine>> GetCostLinesAsync(CostLineQuery query, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        var sql = new StringBuilder($"SELECT {RowReader.CostLineColumns} FROM cost_lines c JOIN workflows w ON w.id = c.workflow_id WHERE 1 = 1");
        if (query.WorkflowId is not null)
        {
            sql.Append(" AND c.workflow_id = $wf");
            cmd.Parameters.AddWithValue("$wf", query.WorkflowId);
        }
        if (query.From is not null)
        {
            sql.Append(" AND c.created_at >= $from");
            cmd.Parameters.AddWithValue("$from", query.From);
        }
        if (query.To is not null)
        {
            sql.Append(" AND c.created_at <= $to");
            cmd.Parameters.AddWithValue("$to", query.To);
        }
        sql.Append(" ORDER BY c.seq");
        cmd.CommandText = sql.ToString();
        var list = new List<StoredCostLine>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(Row.CostLine(r));
        }
        return list;
    }

    public override Task<int> DeleteCacheEntryAsync(string key, CancellationToken cancellationToken) =>
        LockedWriteAsync(tx =>
        {
            var cmd = tx.Command("DELETE FROM result_cache WHERE key = $key");
            ActivityRows.Set(cmd, "$key", key);
            return cmd.ExecuteNonQuery();
        }, cancellationToken);

    public override Task<int> InvalidateCacheAsync(string pattern, CancellationToken cancellationToken) =>
        LockedWriteAsync(tx =>
        {
            var cmd = tx.Command("DELETE FROM result_cache WHERE key GLOB $pattern");
            ActivityRows.Set(cmd, "$pattern", pattern);
            return cmd.ExecuteNonQuery();
        }, cancellationToken);

    private protected override Schedules.IScheduleRows ScheduleRows(IWriteTransaction tx) => new SqliteScheduleRows((SqliteWriteTransaction)tx);

    protected override Task<T> InWriteTransactionAsync<T>(Func<IWriteTransaction, CancellationToken, Task<T>> work,
        CancellationToken cancellationToken) =>
        LockedWriteAsync(tx => work(tx, cancellationToken), cancellationToken);

    /// <summary>
    /// Runs one write transaction on the writer connection while holding the write lock. The work runs synchronously
    /// on SQLite (its async APIs complete inline), so waiting on it here keeps the lock as short as the work.
    /// </summary>
    private Task<T> LockedWriteAsync<T>(Func<SqliteWriteTransaction, T> work, CancellationToken cancellationToken) =>
        LockedWriteAsync(tx => Task.FromResult(work(tx)), cancellationToken);

    private async Task<T> LockedWriteAsync<T>(Func<SqliteWriteTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var conn = Writer();
            using var tx = conn.BeginTransaction();
            var result = await work(new SqliteWriteTransaction(conn, tx, WriterCommand, Definitions));
            // SQLite's statements run inline and never look at the token; PostgreSQL's do. A caller that gave up
            // before the commit (a request aborted, shutdown) gets the same on both: nothing is written.
            cancellationToken.ThrowIfCancellationRequested();
            tx.Commit();
            return result;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Commands on the writer connection are kept per SQL text: SQLite then reuses their prepared statements,
    /// which matters on the hot path. They are disposed with the store, so callers' <c>using</c> only resets them.
    /// </summary>
    private SqliteCommand WriterCommand(SqliteConnection conn, SqliteTransaction tx, string sql)
    {
        if (!_writerCommands.TryGetValue(sql, out var cmd))
        {
            cmd = conn.CreateCommand();
            cmd.CommandText = sql;
            _writerCommands[sql] = cmd;
        }
        cmd.Transaction = tx;
        cmd.Parameters.Clear();
        return cmd;
    }

    private SqliteConnection Writer()
    {
        if (_writer is null)
        {
            _writer = new SqliteConnection(_connectionString);
            _writer.Open();
            Exec(_writer, null, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;");
        }
        return _writer;
    }

    private async Task<SqliteConnection> OpenReaderAsync(CancellationToken cancellationToken)
    {
        var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(cancellationToken);
        return conn;
    }

    private static void Exec(SqliteConnection conn, SqliteTransaction? tx, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public override async ValueTask DisposeAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            foreach (var cmd in _writerCommands.Values)
            {
                await cmd.DisposeAsync();
            }
            _writerCommands.Clear();
            if (_writer is not null)
            {
                await _writer.DisposeAsync();
                _writer = null;
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }
}
