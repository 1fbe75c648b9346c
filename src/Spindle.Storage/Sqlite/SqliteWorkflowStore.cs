using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;

namespace Spindle.Storage.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. SQLite has one writer, so writes go through one connection
/// guarded by a lock (no SQLITE_BUSY retries on the hot path) while reads use pooled connections in parallel.
/// </summary>
public sealed class SqliteWorkflowStore : IWorkflowStore
{
    private readonly string _connectionString;
    private readonly EngineDefaults _defaults;
    private readonly JsonObject _secrets;
    private readonly IStoreNotifier _notifier;
    private readonly DefinitionCache _definitions = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Dictionary<string, SqliteCommand> _writerCommands = new(StringComparer.Ordinal);
    private SqliteConnection? _writer;

    public SqliteWorkflowStore(string databasePath, EngineDefaults defaults, IStoreNotifier? notifier = null)
    {
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _defaults = defaults;
        _secrets = new JsonObject();
        foreach (var (k, v) in defaults.Secrets)
        {
            _secrets[k] = v;
        }
        _notifier = notifier ?? NullStoreNotifier.Instance;
    }

    public async Task MigrateAsync(CancellationToken cancellationToken)
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
                throw new InvalidOperationException(
                    $"The database schema is version {current}, newer than this Spindle build knows ({SqliteMigrations.Latest}). " +
                    "Upgrade Spindle, or point --data-dir at another directory.");
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

    public Task<DeployOutcome> DeployAsync(WorkflowDefinition definition, CancellationToken cancellationToken) =>
        WriteAsync((conn, tx) =>
        {
            string? latestVersion = null;
            string? latestHash = null;
            long latestCreated = 0;
            {
                var cmd = WriterCommand(conn, tx, "SELECT version, content_hash, created_at FROM definitions WHERE name = $name ORDER BY version DESC LIMIT 1");
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
            var now = Timestamps.Now();
            var version = DefinitionVersions.Next(now, latestVersion);
            {
                var cmd = WriterCommand(conn, tx,
                "INSERT INTO definitions (name, version, content_hash, definition, activity_count, created_at) VALUES ($name, $version, $hash, $def, $count, $created)");
                ActivityRows.Set(cmd, "$name", definition.Name);
                ActivityRows.Set(cmd, "$version", version);
                ActivityRows.Set(cmd, "$hash", definition.ContentHash);
                ActivityRows.Set(cmd, "$def", definition.NormalizedJson.ToJsonString());
                ActivityRows.Set(cmd, "$count", definition.Activities.Count);
                ActivityRows.Set(cmd, "$created", now);
                cmd.ExecuteNonQuery();
            }
            _definitions.Add(definition.Name, version, definition);
            return new DeployOutcome(definition.Name, version, now, Unchanged: false);
        }, cancellationToken);

    public async Task<IReadOnlyList<DefinitionSummary>> ListDefinitionsAsync(CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT name, version, activity_count, created_at FROM definitions ORDER BY name, version DESC";
        var list = new List<DefinitionSummary>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(new DefinitionSummary(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetInt64(3)));
        }
        return list;
    }

    public async Task<StoredDefinition?> GetDefinitionAsync(string name, string? version, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        return ReadDefinition(conn, null, name, version);
    }

    private StoredDefinition? ReadDefinition(SqliteConnection conn, SqliteTransaction? tx, string name, string? version)
    {
        using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = version is null
            ? "SELECT version, definition, created_at FROM definitions WHERE name = $name ORDER BY version DESC LIMIT 1"
            : "SELECT version, definition, created_at FROM definitions WHERE name = $name AND version = $version";
        cmd.Parameters.AddWithValue("$name", name);
        if (version is not null)
        {
            cmd.Parameters.AddWithValue("$version", version);
        }
        using var r = cmd.ExecuteReader();
        if (!r.Read())
        {
            return null;
        }
        var v = r.GetString(0);
        var json = r.GetString(1);
        var definition = _definitions.GetOrAdd(name, v, () => json);
        return new StoredDefinition(name, v, definition, r.GetInt64(2));
    }

    private WorkflowDefinition DefinitionFor(SqliteConnection conn, SqliteTransaction? tx, string name, string version) =>
        _definitions.GetOrAdd(name, version, () =>
        {
            using var cmd = conn.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "SELECT definition FROM definitions WHERE name = $name AND version = $version";
            cmd.Parameters.AddWithValue("$name", name);
            cmd.Parameters.AddWithValue("$version", version);
            return (string)cmd.ExecuteScalar()!;
        });

    // ---- workflows --------------------------------------------------------------------------------------------

    public async Task<SubmitOutcome> SubmitAsync(SubmitCommand command, CancellationToken cancellationToken)
    {
        var (outcome, machine) = await WriteAsync<(SubmitOutcome, WorkflowMachine?)>((conn, tx) =>
        {
            var stored = ReadDefinition(conn, tx, command.DefinitionName, command.Version);
            if (stored is null)
            {
                var what = command.Version is null
                    ? $"Workflow definition '{command.DefinitionName}' not found"
                    : $"Workflow definition '{command.DefinitionName}' version {command.Version} not found";
                return (new SubmitOutcome(StoreStatus.NotFound, what, null), null);
            }
            if (command.UniqueKey is not null && UniqueKeyTaken(conn, tx, command.UniqueKey, exceptWorkflowId: null))
            {
                return (new SubmitOutcome(StoreStatus.Conflict, $"A workflow with unique_key '{command.UniqueKey}' already exists", null), null);
            }
            var now = Timestamps.Now();
            var timeout = stored.Definition.Settings?.TimeoutSeconds ?? _defaults.WorkflowTimeoutSeconds;
            var wf = new WorkflowState
            {
                Id = Ids.New(),
                Definition = stored.Definition,
                DefinitionVersion = stored.Version,
                Input = command.Input,
                UniqueKey = command.UniqueKey,
                CreatedAt = now,
                UpdatedAt = now,
                DeadlineAt = timeout > 0 ? now + Timestamps.FromSeconds(timeout) : null,
                BudgetLimit = stored.Definition.Settings?.BudgetLimit,
            };
            {
                var cmd = WriterCommand(conn, tx,
                "INSERT INTO workflows (id, definition_name, definition_version, status, input, unique_key, created_at, updated_at, deadline_at, budget_limit) " +
                "VALUES ($id, $name, $version, 'created', $input, $unique_key, $now, $now, $deadline, $budget)");
                ActivityRows.Set(cmd, "$id", wf.Id);
                ActivityRows.Set(cmd, "$name", stored.Name);
                ActivityRows.Set(cmd, "$version", stored.Version);
                ActivityRows.Set(cmd, "$input", command.Input.ToJsonString());
                ActivityRows.Set(cmd, "$unique_key", command.UniqueKey);
                ActivityRows.Set(cmd, "$now", now);
                ActivityRows.Set(cmd, "$deadline", wf.DeadlineAt);
                ActivityRows.Set(cmd, "$budget", wf.BudgetLimit?.ToString(CultureInfo.InvariantCulture));
                cmd.ExecuteNonQuery();
            }
            var created = new WorkflowEvent(EventTypes.WorkflowCreated, null, null, new JsonObject
            {
                ["definition_name"] = stored.Name,
                ["definition_version"] = stored.Version,
                ["input"] = command.Input.DeepClone(),
            });
            InsertEvents(conn, tx, wf.Id, [created], now);
            // Starting in the submit transaction saves a round trip: the roots are claimable when submit returns.
            var machine = new WorkflowMachine(wf, _defaults, _secrets, now);
            machine.Start();
            Persist(conn, tx, wf, machine, now);
            return (new SubmitOutcome(StoreStatus.Ok, null, wf), machine);
        }, cancellationToken);
        if (machine is not null)
        {
            Notify(outcome.Workflow!.Id, machine);
        }
        return outcome;
    }

    private bool UniqueKeyTaken(SqliteConnection conn, SqliteTransaction tx, string uniqueKey, string? exceptWorkflowId)
    {
        var cmd = WriterCommand(conn, tx,
            "SELECT COUNT(*) FROM workflows WHERE unique_key = $key AND status NOT IN ('failed', 'cancelled') AND id <> $except");
        ActivityRows.Set(cmd, "$key", uniqueKey);
        ActivityRows.Set(cmd, "$except", exceptWorkflowId ?? "");
        return (long)cmd.ExecuteScalar()! > 0;
    }

    public async Task<WorkflowState?> GetWorkflowAsync(string workflowId, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        return LoadWorkflow(conn, null, workflowId);
    }

    public async Task<string?> GetWorkflowStatusAsync(string workflowId, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT status FROM workflows WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", workflowId);
        return (string?)await cmd.ExecuteScalarAsync(cancellationToken);
    }

    public async Task<(IReadOnlyList<WorkflowSummary> Items, int Total)> ListWorkflowsAsync(WorkflowQuery query, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        var where = new StringBuilder(" WHERE 1 = 1");
        void Bind(SqliteCommand c)
        {
            if (query.Status is not null) c.Parameters.AddWithValue("$status", query.Status);
            if (query.DefinitionName is not null) c.Parameters.AddWithValue("$name", query.DefinitionName);
            if (query.CreatedAfter is not null) c.Parameters.AddWithValue("$after", query.CreatedAfter);
            if (query.CreatedBefore is not null) c.Parameters.AddWithValue("$before", query.CreatedBefore);
        }
        if (query.Status is not null) where.Append(" AND status = $status");
        if (query.DefinitionName is not null) where.Append(" AND definition_name = $name");
        if (query.CreatedAfter is not null) where.Append(" AND created_at > $after");
        if (query.CreatedBefore is not null) where.Append(" AND created_at < $before");

        int total;
        await using (var count = conn.CreateCommand())
        {
            count.CommandText = "SELECT COUNT(*) FROM workflows" + where;
            Bind(count);
            total = Convert.ToInt32(await count.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        }
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT id, status, definition_name, definition_version, created_at, updated_at, error_message FROM workflows" +
                          where + " ORDER BY created_at DESC, id DESC LIMIT $limit OFFSET $offset";
        Bind(cmd);
        cmd.Parameters.AddWithValue("$limit", query.Limit);
        cmd.Parameters.AddWithValue("$offset", query.Offset);
        var items = new List<WorkflowSummary>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            items.Add(new WorkflowSummary(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4),
                r.GetInt64(5), r.IsDBNull(6) ? null : r.GetString(6)));
        }
        return (items, total);
    }

    // ---- worker protocol --------------------------------------------------------------------------------------

    public Task<IReadOnlyList<ClaimedActivity>> ClaimAsync(ClaimCommand command, CancellationToken cancellationToken) =>
        WriteAsync<IReadOnlyList<ClaimedActivity>>((conn, tx) =>
        {
            var now = Timestamps.Now();
            var filter = new StringBuilder();
            if (command.ActivityNames is { Count: > 0 } names)
            {
                filter.Append(" AND activity_name IN (");
                filter.Append(string.Join(", ", names.Select((_, i) => "$n" + i.ToString(CultureInfo.InvariantCulture))));
                filter.Append(')');
            }
            var cmd = WriterCommand(conn, tx,
                "UPDATE activity_runs SET status = 'running', lease_owner = $owner, lease_until = $now + lease_seconds * 1000000, claimed_at = $now " +
                "WHERE id IN (SELECT id FROM activity_runs WHERE worker = $worker AND status = 'pending' AND ready_at <= $now" + filter +
                " ORDER BY ready_at LIMIT $limit) " +
                "RETURNING id, workflow_id, activity_key, activity_name, parameters, delivery, signal_data, attempt, iteration, lease_seconds");
            ActivityRows.Set(cmd, "$owner", command.WorkerId);
            ActivityRows.Set(cmd, "$now", now);
            ActivityRows.Set(cmd, "$worker", command.Worker);
            ActivityRows.Set(cmd, "$limit", command.MaxActivities);
            if (command.ActivityNames is { Count: > 0 })
            {
                for (var i = 0; i < command.ActivityNames.Count; i++)
                {
                    ActivityRows.Set(cmd, "$n" + i.ToString(CultureInfo.InvariantCulture), command.ActivityNames[i]);
                }
            }
            var claimed = new List<ClaimedActivity>();
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                {
                    claimed.Add(new ClaimedActivity(
                        r.GetString(0), r.GetString(1), r.GetString(2), command.Worker, r.GetString(3),
                        r.IsDBNull(4) ? new JsonObject() : JsonNode.Parse(r.GetString(4))!.AsObject(),
                        r.IsDBNull(5) ? new JsonObject() : JsonNode.Parse(r.GetString(5))!.AsObject(),
                        r.IsDBNull(6) ? null : JsonNode.Parse(r.GetString(6)),
                        r.GetInt32(7), r.GetInt32(8), r.GetInt32(9)));
                }
            }
            foreach (var c in claimed)
            {
                InsertEvents(conn, tx, c.WorkflowId,
                    [new WorkflowEvent(EventTypes.ActivityStarted, c.ActivityKey, c.Iteration,
                        new JsonObject { ["worker_id"] = command.WorkerId, ["attempt"] = c.Attempt })], now);
            }
            return claimed;
        }, cancellationToken);

    public Task<HeartbeatOutcome> HeartbeatAsync(string activityId, string workerId, CancellationToken cancellationToken) =>
        WriteAsync((conn, tx) =>
        {
            var now = Timestamps.Now();
            {
                var cmd = WriterCommand(conn, tx,
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
            var probe = WriterCommand(conn, tx, "SELECT status, lease_seconds FROM activity_runs WHERE id = $id");
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

    public async Task<CompleteOutcome> CompleteAsync(string activityId, string workerId, JsonObject output, decimal cost, CancellationToken cancellationToken)
    {
        var (outcome, wfId, machine) = await WriteAsync<(CompleteOutcome, string?, WorkflowMachine?)>((conn, tx) =>
        {
            var now = Timestamps.Now();
            var wf = LoadWorkflowOfActivity(conn, tx, activityId);
            var activity = wf?.Activities.Values.FirstOrDefault(a => a.Id == activityId);
            if (wf is null || activity is null)
            {
                return (new CompleteOutcome(StoreStatus.NotFound, $"Activity {activityId} not found"), null, null);
            }
            if (activity.Status == ActivityStatus.Completed && activity.LeaseOwner == workerId)
            {
                return (new CompleteOutcome(StoreStatus.Ok, "already completed"), null, null);
            }
            if (activity.Status != ActivityStatus.Running || activity.LeaseOwner != workerId)
            {
                return (new CompleteOutcome(StoreStatus.Conflict, LostLeaseMessage(activity, workerId)), null, null);
            }
            var machine = new WorkflowMachine(wf, _defaults, _secrets, now);
            machine.Complete(activity, output, cost);
            if (activity.Status == ActivityStatus.Completed)
            {
                activity.LeaseOwner = workerId; // remembered so that a repeated report by the same worker is idempotent
            }
            Persist(conn, tx, wf, machine, now);
            return (new CompleteOutcome(StoreStatus.Ok, null), wf.Id, machine);
        }, cancellationToken);
        if (machine is not null)
        {
            Notify(wfId!, machine);
        }
        return outcome;
    }

    public async Task<FailOutcome> FailAsync(string activityId, string workerId, ActivityError error, decimal cost, CancellationToken cancellationToken)
    {
        var (outcome, wfId, machine) = await WriteAsync<(FailOutcome, string?, WorkflowMachine?)>((conn, tx) =>
        {
            var now = Timestamps.Now();
            var wf = LoadWorkflowOfActivity(conn, tx, activityId);
            var activity = wf?.Activities.Values.FirstOrDefault(a => a.Id == activityId);
            if (wf is null || activity is null)
            {
                return (new FailOutcome(StoreStatus.NotFound, $"Activity {activityId} not found", false), null, null);
            }
            if (activity.Status != ActivityStatus.Running || activity.LeaseOwner != workerId)
            {
                return (new FailOutcome(StoreStatus.Conflict, LostLeaseMessage(activity, workerId), false), null, null);
            }
            var machine = new WorkflowMachine(wf, _defaults, _secrets, now);
            var willRetry = machine.Fail(activity, error.Code, error.Message, error.Retryable, cost);
            Persist(conn, tx, wf, machine, now);
            return (new FailOutcome(StoreStatus.Ok, null, willRetry), wf.Id, machine);
        }, cancellationToken);
        if (machine is not null)
        {
            Notify(wfId!, machine);
        }
        return outcome;
    }

    private static string LostLeaseMessage(ActivityState activity, string workerId) =>
        activity.Status == ActivityStatus.Running
            ? $"Activity {activity.Id} is leased by another worker, not '{workerId}' (lease lost)"
            : $"Activity {activity.Id} is {activity.Status}, not running; the result was discarded";

    // ---- workflow operations ----------------------------------------------------------------------------------

    public async Task<CancelOutcome> CancelAsync(string workflowId, string? reason, CancellationToken cancellationToken)
    {
        var (outcome, machine) = await WriteAsync<(CancelOutcome, WorkflowMachine?)>((conn, tx) =>
        {
            var wf = LoadWorkflow(conn, tx, workflowId);
            if (wf is null)
            {
                return (new CancelOutcome(StoreStatus.NotFound, null), null);
            }
            if (wf.Status == WorkflowStatus.Cancelled)
            {
                return (new CancelOutcome(StoreStatus.Ok, wf.Status), null);
            }
            if (WorkflowStatus.IsTerminal(wf.Status))
            {
                return (new CancelOutcome(StoreStatus.Conflict, wf.Status), null);
            }
            var now = Timestamps.Now();
            var machine = new WorkflowMachine(wf, _defaults, _secrets, now);
            machine.Cancel(reason);
            Persist(conn, tx, wf, machine, now);
            return (new CancelOutcome(StoreStatus.Ok, wf.Status), machine);
        }, cancellationToken);
        if (machine is not null)
        {
            Notify(workflowId, machine);
        }
        return outcome;
    }

    public async Task<RetryOutcome> RetryAsync(string workflowId, CancellationToken cancellationToken)
    {
        var (outcome, machine) = await WriteAsync<(RetryOutcome, WorkflowMachine?)>((conn, tx) =>
        {
            var wf = LoadWorkflow(conn, tx, workflowId);
            if (wf is null)
            {
                return (new RetryOutcome(StoreStatus.NotFound, "Workflow not found", []), null);
            }
            if (wf.Status is not (WorkflowStatus.Failed or WorkflowStatus.Cancelled))
            {
                return (new RetryOutcome(StoreStatus.Conflict, $"Only failed or cancelled workflows can be retried; this one is {wf.Status}", []), null);
            }
            if (wf.UniqueKey is not null && UniqueKeyTaken(conn, tx, wf.UniqueKey, wf.Id))
            {
                return (new RetryOutcome(StoreStatus.Conflict, $"Another workflow has taken unique_key '{wf.UniqueKey}'", []), null);
            }
            var now = Timestamps.Now();
            var machine = new WorkflowMachine(wf, _defaults, _secrets, now);
            var keys = machine.Retry(wf.Definition.Settings?.TimeoutSeconds ?? _defaults.WorkflowTimeoutSeconds);
            Persist(conn, tx, wf, machine, now);
            return (new RetryOutcome(StoreStatus.Ok, null, keys), machine);
        }, cancellationToken);
        if (machine is not null)
        {
            Notify(workflowId, machine);
        }
        return outcome;
    }

    public async Task<SignalOutcome> SignalAsync(string workflowId, string? activityKey, string eventName, JsonNode? data, CancellationToken cancellationToken)
    {
        var (outcome, machine) = await WriteAsync<(SignalOutcome, WorkflowMachine?)>((conn, tx) =>
        {
            var wf = LoadWorkflow(conn, tx, workflowId);
            if (wf is null)
            {
                return (new SignalOutcome(StoreStatus.NotFound, []), null);
            }
            if (wf.Status != WorkflowStatus.Running)
            {
                return (new SignalOutcome(StoreStatus.Ok, []), null);
            }
            var now = Timestamps.Now();
            var machine = new WorkflowMachine(wf, _defaults, _secrets, now);
            var signaled = machine.Signal(activityKey, eventName, data);
            if (signaled.Count > 0)
            {
                Persist(conn, tx, wf, machine, now);
            }
            return (new SignalOutcome(StoreStatus.Ok, signaled), machine);
        }, cancellationToken);
        if (machine is not null)
        {
            Notify(workflowId, machine);
        }
        return outcome;
    }

    public async Task<EventPage?> GetEventsAsync(string workflowId, string? afterEventId, int limit, IReadOnlySet<string>? eventTypes, CancellationToken cancellationToken)
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
        var sql = new StringBuilder(
            "SELECT id, event_type, activity_key, iteration, payload, created_at FROM events WHERE workflow_id = $wf");
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
            events.Add(new StoredEvent(r.GetString(0), workflowId, r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2),
                r.IsDBNull(3) ? null : r.GetInt32(3), JsonNode.Parse(r.GetString(4))!.AsObject(), r.GetInt64(5)));
        }
        var hasMore = events.Count > limit;
        if (hasMore)
        {
            events.RemoveAt(events.Count - 1);
        }
        return new EventPage(events, hasMore);
    }

    // ---- timers -----------------------------------------------------------------------------------------------

    public async Task<TimerOutcome> RunTimersAsync(CancellationToken cancellationToken)
    {
        var now = Timestamps.Now();
        var leases = await DueAsync(
            "SELECT workflow_id, activity_key FROM activity_runs WHERE status = 'running' AND lease_until < $now LIMIT 200", now, cancellationToken);
        foreach (var (wfId, key) in leases)
        {
            await ApplyAsync(wfId, (wf, m) =>
            {
                var a = wf.Activities[key!];
                if (a.Status == ActivityStatus.Running && a.LeaseUntil < now)
                {
                    m.ExpireLease(a);
                    return true;
                }
                return false;
            }, cancellationToken);
        }
        var signals = await DueAsync(
            "SELECT workflow_id, activity_key FROM activity_runs WHERE status = 'waiting' AND signal_wait_until <= $now LIMIT 200", now, cancellationToken);
        foreach (var (wfId, key) in signals)
        {
            await ApplyAsync(wfId, (wf, m) =>
            {
                var a = wf.Activities[key!];
                if (a.Status == ActivityStatus.Waiting && a.SignalWaitUntil <= now && wf.Status == WorkflowStatus.Running)
                {
                    m.SignalTimeout(a);
                    return true;
                }
                return false;
            }, cancellationToken);
        }
        var deadlines = await DueAsync(
            "SELECT id, NULL FROM workflows WHERE status = 'running' AND deadline_at <= $now LIMIT 200", now, cancellationToken);
        foreach (var (wfId, _) in deadlines)
        {
            await ApplyAsync(wfId, (wf, m) =>
            {
                if (wf.Status != WorkflowStatus.Running || wf.DeadlineAt > now)
                {
                    return false;
                }
                m.Deadline(wf.Definition.Settings?.TimeoutSeconds ?? _defaults.WorkflowTimeoutSeconds);
                return true;
            }, cancellationToken);
        }
        return new TimerOutcome(leases.Count, signals.Count, deadlines.Count);
    }

    public async Task<IReadOnlyList<(string Worker, long ReadyAt)>> GetDelayedAsync(CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT worker, MIN(ready_at) FROM activity_runs WHERE status = 'pending' GROUP BY worker";
        var list = new List<(string, long)>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add((r.GetString(0), r.GetInt64(1)));
        }
        return list;
    }

    private async Task<List<(string WorkflowId, string? Key)>> DueAsync(string sql, long now, CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$now", now);
        var list = new List<(string, string?)>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add((r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)));
        }
        return list;
    }

    /// <summary>Loads one workflow in a write transaction, applies a timer decision, persists it if it changed anything.</summary>
    private async Task ApplyAsync(string workflowId, Func<WorkflowState, WorkflowMachine, bool> apply, CancellationToken cancellationToken)
    {
        var machine = await WriteAsync((conn, tx) =>
        {
            var wf = LoadWorkflow(conn, tx, workflowId);
            if (wf is null)
            {
                return null;
            }
            var now = Timestamps.Now();
            var m = new WorkflowMachine(wf, _defaults, _secrets, now);
            if (!apply(wf, m))
            {
                return null;
            }
            Persist(conn, tx, wf, m, now);
            return m;
        }, cancellationToken);
        if (machine is not null)
        {
            Notify(workflowId, machine);
        }
    }

    // ---- plumbing ---------------------------------------------------------------------------------------------

    private WorkflowState? LoadWorkflowOfActivity(SqliteConnection conn, SqliteTransaction tx, string activityId)
    {
        var cmd = WriterCommand(conn, tx, "SELECT workflow_id FROM activity_runs WHERE id = $id");
        ActivityRows.Set(cmd, "$id", activityId);
        return cmd.ExecuteScalar() is string wfId ? LoadWorkflow(conn, tx, wfId) : null;
    }

    private WorkflowState? LoadWorkflow(SqliteConnection conn, SqliteTransaction? tx, string workflowId)
    {
        WorkflowState wf;
        using (var cmd = conn.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText =
                "SELECT definition_name, definition_version, status, input, unique_key, error_message, created_at, updated_at, " +
                "completed_at, deadline_at, total_cost, budget_limit FROM workflows WHERE id = $id";
            cmd.Parameters.AddWithValue("$id", workflowId);
            using var r = cmd.ExecuteReader();
            if (!r.Read())
            {
                return null;
            }
            var definition = DefinitionFor(conn, tx, r.GetString(0), r.GetString(1));
            wf = new WorkflowState
            {
                Id = workflowId,
                Definition = definition,
                DefinitionVersion = r.GetString(1),
                Status = r.GetString(2),
                Input = JsonNode.Parse(r.GetString(3))!.AsObject(),
                UniqueKey = r.IsDBNull(4) ? null : r.GetString(4),
                ErrorMessage = r.IsDBNull(5) ? null : r.GetString(5),
                CreatedAt = r.GetInt64(6),
                UpdatedAt = r.GetInt64(7),
                CompletedAt = r.IsDBNull(8) ? null : r.GetInt64(8),
                DeadlineAt = r.IsDBNull(9) ? null : r.GetInt64(9),
                TotalCost = decimal.Parse(r.GetString(10), CultureInfo.InvariantCulture),
                BudgetLimit = r.IsDBNull(11) ? null : decimal.Parse(r.GetString(11), CultureInfo.InvariantCulture),
            };
        }
        using (var cmd = conn.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT {ActivityRows.Columns} FROM activity_runs WHERE workflow_id = $id ORDER BY ordinal";
            cmd.Parameters.AddWithValue("$id", workflowId);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var a = ActivityRows.Read(r);
                wf.Activities[a.Key] = a;
            }
        }
        return wf;
    }

    private void Persist(SqliteConnection conn, SqliteTransaction tx, WorkflowState wf, WorkflowMachine machine, long now)
    {
        if (wf.IsDirty)
        {
            var cmd = WriterCommand(conn, tx,
                "UPDATE workflows SET status = $status, error_message = $error, updated_at = $updated, completed_at = $completed, " +
                "deadline_at = $deadline, total_cost = $cost WHERE id = $id");
            ActivityRows.Set(cmd, "$status", wf.Status);
            ActivityRows.Set(cmd, "$error", wf.ErrorMessage);
            ActivityRows.Set(cmd, "$updated", wf.UpdatedAt);
            ActivityRows.Set(cmd, "$completed", wf.CompletedAt);
            ActivityRows.Set(cmd, "$deadline", wf.DeadlineAt);
            ActivityRows.Set(cmd, "$cost", wf.TotalCost.ToString(CultureInfo.InvariantCulture));
            ActivityRows.Set(cmd, "$id", wf.Id);
            cmd.ExecuteNonQuery();
        }
        foreach (var activity in wf.Definition.Activities)
        {
            var a = wf.Activities[activity.Key];
            if (!a.IsNew && !a.IsDirty)
            {
                continue;
            }
            var cmd = WriterCommand(conn, tx, a.IsNew ? ActivityRows.InsertSql : ActivityRows.UpdateSql);
            ActivityRows.Bind(cmd, a, activity.Index);
            cmd.ExecuteNonQuery();
            a.IsNew = false;
            a.IsDirty = false;
        }
        wf.IsDirty = false;
        InsertEvents(conn, tx, wf.Id, machine.Events, now);
    }

    private void InsertEvents(SqliteConnection conn, SqliteTransaction tx, string workflowId, IReadOnlyList<WorkflowEvent> events, long now)
    {
        foreach (var e in events)
        {
            var cmd = WriterCommand(conn, tx,
                "INSERT INTO events (id, workflow_id, event_type, activity_key, iteration, payload, created_at) " +
                "VALUES ($id, $wf, $type, $key, $iteration, $payload, $created)");
            ActivityRows.Set(cmd, "$id", Ids.New());
            ActivityRows.Set(cmd, "$wf", workflowId);
            ActivityRows.Set(cmd, "$type", e.EventType);
            ActivityRows.Set(cmd, "$key", e.ActivityKey);
            ActivityRows.Set(cmd, "$iteration", e.Iteration);
            ActivityRows.Set(cmd, "$payload", e.Payload.ToJsonString());
            ActivityRows.Set(cmd, "$created", now);
            cmd.ExecuteNonQuery();
        }
    }

    private void Notify(string workflowId, WorkflowMachine machine)
    {
        foreach (var worker in machine.ReadyWorkers)
        {
            _notifier.ActivitiesReady(worker);
        }
        foreach (var (worker, at) in machine.DelayedWorkers)
        {
            _notifier.ActivitiesDelayed(worker, at);
        }
        if (machine.BecameTerminal)
        {
            _notifier.WorkflowFinished(workflowId);
        }
    }

    private async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            var conn = Writer();
            using var tx = conn.BeginTransaction();
            var result = work(conn, tx);
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

    public async ValueTask DisposeAsync()
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
