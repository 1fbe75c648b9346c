using System.Text;
using Npgsql;
using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Postgres;

/// <summary>
/// The shared store: one PostgreSQL database behind any number of servers. Everything goes through one
/// <see cref="NpgsqlDataSource"/> (its pool survives a database restart: broken connections are dropped and new ones
/// opened). Workflows are serialised by a row lock on <c>workflows</c>; the queue is <c>activity_runs</c>, claimed
/// with <c>FOR UPDATE SKIP LOCKED</c> so that concurrent pollers never wait for each other.
/// </summary>
public sealed partial class PostgresWorkflowStore : TransactionalWorkflowStore
{
    private const string ClaimedColumns = RowReader.ClaimedColumns;

    /// <summary>Extends the lease of the owner, or says why not, in one round trip.</summary>
    private const string HeartbeatSql =
        "WITH beat AS (" +
        " UPDATE activity_runs SET lease_until = $1 + lease_seconds::bigint * 1000000" +
        " WHERE id = $2 AND status = 'running' AND lease_owner = $3 RETURNING lease_seconds, cancel_requested) " +
        "SELECT true, lease_seconds, cancel_requested, NULL::text FROM beat " +
        "UNION ALL " +
        "SELECT false, lease_seconds, false, status FROM activity_runs WHERE id = $2 AND NOT EXISTS (SELECT 1 FROM beat)";

    private static readonly PostgresRowReader Row = PostgresRowReader.Instance;

    private readonly NpgsqlDataSource _dataSource;

    /// <param name="databaseUrl">A <c>postgres://</c> URL or an Npgsql connection string.</param>
    public PostgresWorkflowStore(string databaseUrl, EngineDefaults defaults, IStoreNotifier? notifier = null)
        : base(defaults, notifier)
    {
        ConnectionString = PostgresConnectionStrings.FromDatabaseUrl(databaseUrl);
        _dataSource = NpgsqlDataSource.Create(ConnectionString);
        Notifications = new PostgresNotificationSender(ConnectionString);
    }

    /// <summary>This server's wake-ups for the other servers, sent after each commit.</summary>
    public PostgresNotificationSender Notifications { get; }

    /// <summary>The normalised Npgsql connection string (a listener opens its own connection with it).</summary>
    public string ConnectionString { get; }

    /// <summary>The one pool of this server; other stores of the same database (clients) share it.</summary>
    public NpgsqlDataSource DataSource => _dataSource;

    private volatile bool _notifyEventStreams = true;

    /// <summary>
    /// Whether a commit that appended events but woke nothing else sends the events notification. A server turns it
    /// off while no server of the cluster has event-stream subscribers (then nobody would re-read the log); on by
    /// default, so a store without that bookkeeping always notifies.
    /// </summary>
    public bool NotifyEventStreams
    {
        get => _notifyEventStreams;
        set => _notifyEventStreams = value;
    }

    public override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
        // Servers starting together take turns; the lock goes with the session if this process dies.
        await ExecAsync(conn, null, $"SELECT pg_advisory_lock({PostgresMigrations.AdvisoryLockKey})", cancellationToken);
        try
        {
            await ExecAsync(conn, null,
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)", cancellationToken);
            int current;
            await using (var cmd = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", conn))
            {
                current = (int)(await cmd.ExecuteScalarAsync(cancellationToken))!;
            }
            if (current > PostgresMigrations.Latest)
            {
                throw new SchemaTooNewException(current, PostgresMigrations.Latest,
                    "Another server with a newer Spindle has upgraded this database; upgrade this server too, or point --database-url at another database.");
            }
            foreach (var (version, sql) in PostgresMigrations.All)
            {
                if (version <= current)
                {
                    continue;
                }
                await using var tx = await conn.BeginTransactionAsync(cancellationToken);
                await ExecAsync(conn, tx, sql, cancellationToken);
                await using (var cmd = new NpgsqlCommand("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", conn, tx))
                {
                    cmd.Parameters.Add(PgParameters.Integer(version));
                    cmd.Parameters.Add(PgParameters.Bigint(Timestamps.Now()));
                    await cmd.ExecuteNonQueryAsync(cancellationToken);
                }
                await tx.CommitAsync(cancellationToken);
            }
        }
        finally
        {
            await ExecAsync(conn, null, $"SELECT pg_advisory_unlock({PostgresMigrations.AdvisoryLockKey})", CancellationToken.None);
        }
    }

    // ---- definitions ------------------------------------------------------------------------------------------

    public override async Task<DeployOutcome> DeployAsync(WorkflowDefinition definition, CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        string? latestVersion = null;
        string? latestHash = null;
        long latestCreated = 0;
        await using (var batch = new NpgsqlBatch(conn, tx))
        {
            // Two servers deploying one name at the same microsecond would pick the same version: take turns per name.
            batch.BatchCommands.Add(PgParameters.Statement("SELECT pg_advisory_xact_lock(hashtextextended('spindle.deploy:' || $1, 0))",
                PgParameters.Text(definition.Name)));
            batch.BatchCommands.Add(PgParameters.Statement(
                "SELECT version, content_hash, created_at FROM definitions WHERE name = $1 ORDER BY version DESC LIMIT 1",
                PgParameters.Text(definition.Name)));
            await using var r = await batch.ExecuteReaderAsync(cancellationToken);
            await r.NextResultAsync(cancellationToken);
            if (await r.ReadAsync(cancellationToken))
            {
                latestVersion = r.GetString(0);
                latestHash = r.GetString(1);
                latestCreated = r.GetInt64(2);
            }
        }
        if (latestHash == definition.ContentHash)
        {
            await tx.CommitAsync(cancellationToken);
            return new DeployOutcome(definition.Name, latestVersion!, latestCreated, Unchanged: true);
        }
        var now = Now();
        var version = DefinitionVersions.Next(now, latestVersion);
        await using (var cmd = new NpgsqlCommand(
            "INSERT INTO definitions (name, version, content_hash, definition, activity_count, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            conn, tx))
        {
            cmd.Parameters.Add(PgParameters.Text(definition.Name));
            cmd.Parameters.Add(PgParameters.Text(version));
            cmd.Parameters.Add(PgParameters.Text(definition.ContentHash));
            cmd.Parameters.Add(PgParameters.Json(definition.NormalizedJson.ToJsonString()));
            cmd.Parameters.Add(PgParameters.Integer(definition.Activities.Count));
            cmd.Parameters.Add(PgParameters.Bigint(now));
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
        Definitions.Add(definition.Name, version, definition);
        return new DeployOutcome(definition.Name, version, now, Unchanged: false);
    }

    public override async Task<IReadOnlyList<DefinitionSummary>> ListDefinitionsAsync(CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand(
            $"SELECT {RowReader.DefinitionSummaryColumns} FROM definitions ORDER BY name, version DESC");
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
        await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await PostgresWorkflowLoader.ReadDefinitionAsync(conn, null, Definitions, name, version, cancellationToken);
    }

    // ---- workflows --------------------------------------------------------------------------------------------

    public override async Task<WorkflowState?> GetWorkflowAsync(string workflowId, CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await PostgresWorkflowLoader.LoadAsync(conn, null, Definitions, workflowId, PostgresWorkflowLoader.Lock.None,
            cancellationToken);
    }

    public override async Task<string?> GetWorkflowStatusAsync(string workflowId, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand("SELECT status FROM workflows WHERE id = $1");
        cmd.Parameters.Add(PgParameters.Text(workflowId));
        return (string?)await cmd.ExecuteScalarAsync(cancellationToken);
    }

    public override async Task<IReadOnlyList<ChildLink>> ListChildrenAsync(string workflowId, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand($"SELECT {RowReader.ChildLinkColumns} FROM workflows WHERE parent_id = $1 ORDER BY created_at, id");
        cmd.Parameters.Add(PgParameters.Text(workflowId));
        var links = new List<ChildLink>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            links.Add(RowReader.ChildLink(r));
        }
        return links;
    }

    public override async Task<(IReadOnlyList<WorkflowSummary> Items, int Total)> ListWorkflowsAsync(WorkflowQuery query,
        CancellationToken cancellationToken)
    {
        var where = new StringBuilder(" WHERE true");
        var values = new List<Func<NpgsqlParameter>>();
        void Filter(string condition, Func<NpgsqlParameter> value)
        {
            values.Add(value);
            where.Append(" AND ").Append(condition).Append(" $").Append(values.Count);
        }
        if (query.Status is not null) Filter("status =", () => PgParameters.Text(query.Status));
        if (query.DefinitionName is not null) Filter("definition_name =", () => PgParameters.Text(query.DefinitionName));
        if (query.CreatedAfter is not null) Filter("created_at >", () => PgParameters.Bigint(query.CreatedAfter));
        if (query.CreatedBefore is not null) Filter("created_at <", () => PgParameters.Bigint(query.CreatedBefore));
        if (query.ScheduleId is not null) Filter("schedule_id =", () => PgParameters.Text(query.ScheduleId));
        // The prefix is hex digits and dashes only (the API checks), so it holds no LIKE wildcard; the
        // text_pattern_ops index answers it whatever the database's collation.
        if (query.IdPrefix is not null) Filter("id LIKE", () => PgParameters.Text(query.IdPrefix + "%"));

        await using var batch = _dataSource.CreateBatch();
        var count = new NpgsqlBatchCommand("SELECT COUNT(*) FROM workflows" + where);
        count.Parameters.AddRange(values.Select(v => v()).ToArray());
        var backward = query.Cursor is { Backward: true };
        var page = new NpgsqlBatchCommand();
        page.Parameters.AddRange(values.Select(v => v()).ToArray());
        var sql = new StringBuilder($"SELECT {RowReader.WorkflowSummaryColumns} FROM workflows").Append(where);
        if (query.Cursor is { } cursor)
        {
            page.Parameters.Add(PgParameters.Bigint(cursor.CreatedAt));
            page.Parameters.Add(PgParameters.Text(cursor.Id));
            // A row comparison is one range of the (…, created_at, id) indexes.
            sql.Append($" AND (created_at, id) {(backward ? ">" : "<")} (${values.Count + 1}, ${values.Count + 2})");
        }
        page.Parameters.Add(PgParameters.Integer(query.Limit));
        page.Parameters.Add(PgParameters.Integer(query.Offset));
        sql.Append(backward ? " ORDER BY created_at, id" : " ORDER BY created_at DESC, id DESC")
            .Append($" LIMIT ${page.Parameters.Count - 1} OFFSET ${page.Parameters.Count}");
        page.CommandText = sql.ToString();
        batch.BatchCommands.Add(count);
        batch.BatchCommands.Add(page);

        await using var r = await batch.ExecuteReaderAsync(cancellationToken);
        await r.ReadAsync(cancellationToken);
        var total = (int)r.GetInt64(0);
        await r.NextResultAsync(cancellationToken);
        var items = new List<WorkflowSummary>();
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
        var (claimed, retryAt) = await PostgresClaim.RunAsync(_dataSource, command, Now(), cancellationToken);
        if (retryAt is { } at)
        {
            Notifier.ActivitiesDelayed(command.RoutingKey, at); // a rate-limited activity gets its token then
        }
        return claimed;
    }

    public override async Task<HeartbeatOutcome> HeartbeatAsync(string activityId, string workerId, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand(HeartbeatSql);
        cmd.Parameters.Add(PgParameters.Bigint(Now()));
        cmd.Parameters.Add(PgParameters.Text(activityId));
        cmd.Parameters.Add(PgParameters.Text(workerId));
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken))
        {
            return new HeartbeatOutcome(StoreStatus.NotFound, false, 0, false);
        }
        if (r.GetBoolean(0))
        {
            return new HeartbeatOutcome(StoreStatus.Ok, true, r.GetInt32(1), r.GetBoolean(2));
        }
        return r.GetString(3) is ActivityStatus.Completed or ActivityStatus.Failed
            ? new HeartbeatOutcome(StoreStatus.Ok, false, r.GetInt32(1), false)
            : new HeartbeatOutcome(StoreStatus.Conflict, false, 0, false);
    }

    // ---- history ----------------------------------------------------------------------------------------------

    public override async Task<EventPage?> GetEventsAsync(string workflowId, string? afterEventId, int limit,
        IReadOnlySet<string>? eventTypes, CancellationToken cancellationToken)
    {
        await using var batch = _dataSource.CreateBatch();
        batch.BatchCommands.Add(PgParameters.Statement("SELECT EXISTS (SELECT 1 FROM workflows WHERE id = $1)", PgParameters.Text(workflowId)));
        var sql = new StringBuilder($"SELECT {RowReader.EventColumns} FROM events WHERE workflow_id = $1");
        var page = new NpgsqlBatchCommand();
        page.Parameters.Add(PgParameters.Text(workflowId));
        if (afterEventId is not null)
        {
            page.Parameters.Add(PgParameters.Text(afterEventId));
            sql.Append($" AND seq > COALESCE((SELECT seq FROM events WHERE id = ${page.Parameters.Count}), 0)");
        }
        if (eventTypes is { Count: > 0 })
        {
            page.Parameters.Add(PgParameters.TextArray(eventTypes.ToArray()));
            sql.Append($" AND event_type = ANY(${page.Parameters.Count})");
        }
        page.Parameters.Add(PgParameters.Integer(limit + 1));
        sql.Append($" ORDER BY seq LIMIT ${page.Parameters.Count}");
        page.CommandText = sql.ToString();
        batch.BatchCommands.Add(page);

        await using var r = await batch.ExecuteReaderAsync(cancellationToken);
        await r.ReadAsync(cancellationToken);
        if (!r.GetBoolean(0))
        {
            return null;
        }
        await r.NextResultAsync(cancellationToken);
        var events = new List<StoredEvent>();
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

    // ---- costs and the result cache -------------------------------------------------------------------------

    public override async Task<IReadOnlyList<StoredCostLine>> GetCostLinesAsync(CostLineQuery query, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand();
        var sql = new StringBuilder($"SELECT {RowReader.CostLineColumns} FROM cost_lines c JOIN workflows w ON w.id = c.workflow_id WHERE true");
        if (query.WorkflowId is not null)
        {
            cmd.Parameters.Add(PgParameters.Text(query.WorkflowId));
            sql.Append($" AND c.workflow_id = ${cmd.Parameters.Count}");
        }
        if (query.From is not null)
        {
            cmd.Parameters.Add(PgParameters.Bigint(query.From));
            sql.Append($" AND c.created_at >= ${cmd.Parameters.Count}");
        }
        if (query.To is not null)
        {
            cmd.Parameters.Add(PgParameters.Bigint(query.To));
            sql.Append($" AND c.created_at <= ${cmd.Parameters.Count}");
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

    public override async Task<int> DeleteCacheEntryAsync(string key, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand("DELETE FROM result_cache WHERE key = $1");
        cmd.Parameters.Add(PgParameters.Text(key));
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public override async Task<int> InvalidateCacheAsync(string pattern, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand("DELETE FROM result_cache WHERE key ~ $1");
        cmd.Parameters.Add(PgParameters.Text(GlobToRegex(pattern)));
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A glob as SQLite's GLOB reads it (<c>*</c>, <c>?</c>, <c>[abc]</c>, <c>[^abc]</c>) as an anchored POSIX regex.</summary>
    internal static string GlobToRegex(string glob)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            switch (c)
            {
                case '*':
                    regex.Append(".*");
                    break;
                case '?':
                    regex.Append('.');
                    break;
                case '[' when i + 2 < glob.Length && glob.IndexOf(']', i + 2) is var end and > 0:
                    var body = glob[(i + 1)..end];
                    regex.Append('[').Append(body.StartsWith('^') || body.StartsWith('!') ? "^" + body[1..].Replace("\\", "\\\\", StringComparison.Ordinal) : body.Replace("\\", "\\\\", StringComparison.Ordinal)).Append(']');
                    i = end;
                    break;
                default:
                    if ("\\.^$|()[]{}+*?".Contains(c, StringComparison.Ordinal))
                    {
                        regex.Append('\\');
                    }
                    regex.Append(c);
                    break;
            }
        }
        return regex.Append('$').ToString();
    }

    // ---- timers -----------------------------------------------------------------------------------------------

    protected override async Task<IReadOnlyList<(string WorkflowId, string? ActivityKey)>> FindDueAsync(DueTimer kind, long now,
        CancellationToken cancellationToken)
    {
        var sql = kind switch
        {
            DueTimer.ExpiredLease =>
                "SELECT workflow_id, activity_key FROM activity_runs WHERE status = 'running' AND lease_until < $1 ORDER BY lease_until LIMIT $2",
            DueTimer.SignalTimeout =>
                "SELECT workflow_id, activity_key FROM activity_runs WHERE status = 'waiting' AND signal_wait_until <= $1 ORDER BY signal_wait_until LIMIT $2",
            _ => "SELECT id, NULL::text FROM workflows WHERE status = 'running' AND deadline_at <= $1 ORDER BY deadline_at LIMIT $2",
        };
        await using var cmd = _dataSource.CreateCommand(sql);
        cmd.Parameters.Add(PgParameters.Bigint(now));
        cmd.Parameters.Add(PgParameters.Integer(TimerBatch));
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
        await using var cmd = _dataSource.CreateCommand(DelayedSql);
        var list = new List<(string, long)>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add((r.GetString(0), r.GetInt64(1)));
        }
        return list;
    }

    // ---- plumbing ---------------------------------------------------------------------------------------------

    private protected override Schedules.IScheduleRows ScheduleRows(IWriteTransaction tx) => new PostgresScheduleRows((PostgresWriteTransaction)tx);

    protected override async Task<T> InWriteTransactionAsync<T>(Func<IWriteTransaction, CancellationToken, Task<T>> work,
        CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        try
        {
            var writes = new PostgresWriteTransaction(conn, tx, Definitions);
            var result = await work(writes, cancellationToken);
            if (!writes.Committed)
            {
                await tx.CommitAsync(cancellationToken);
            }
            return result;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "ux_workflows_unique_key")
        {
            throw new UniqueKeyConflictException(ex.MessageText, ex);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
        {
            throw new WriteConflictException(ex.MessageText);
        }
    }

    private static async Task ExecAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Completions of different workflows commit side by side (see the base property).</summary>
    protected override bool GroupsAcrossWorkflows => false;

    /// <summary>Wakes the other servers: which routing keys gained claimable work, whether the workflow finished.</summary>
    protected override void WakeOtherServers(string workflowId, WorkflowDecision decision)
    {
        var woke = false;
        foreach (var routingKey in decision.ReadyRoutingKeys)
        {
            Notifications.Enqueue(PostgresChannels.Ready, routingKey);
            woke = true;
        }
        if (decision.BecameTerminal)
        {
            Notifications.Enqueue(PostgresChannels.Finished, workflowId);
            woke = true;
        }
        if (decision.Events.Count > 0 && !woke && _notifyEventStreams)
        {
            // Event streams on other servers re-read the log on any of these channels; this one covers commits
            // (a parallel branch's completion, a waiting activity) that wake nothing else.
            Notifications.Enqueue(PostgresChannels.Events, "");
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await Notifications.DisposeAsync();
        await _dataSource.DisposeAsync();
    }
}
