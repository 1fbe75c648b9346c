using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Sqlite;

/// <summary>
/// One write transaction on the single writer connection. SQLite has one writer, so holding the write
/// transaction already serialises every workflow: the locks asked for by <see cref="IWriteTransaction"/> are implied
/// and nothing can change a row between reading and writing it.
/// </summary>
internal sealed partial class SqliteWriteTransaction : IWriteTransaction
{
    private readonly SqliteConnection _conn;
    private readonly SqliteTransaction _tx;
    private readonly Func<SqliteConnection, SqliteTransaction, string, SqliteCommand> _command;
    private readonly DefinitionCache _definitions;

    public SqliteWriteTransaction(SqliteConnection conn, SqliteTransaction tx,
        Func<SqliteConnection, SqliteTransaction, string, SqliteCommand> command, DefinitionCache definitions)
    {
        _conn = conn;
        _tx = tx;
        _command = command;
        _definitions = definitions;
    }

    public SqliteConnection Connection => _conn;

    public SqliteTransaction Transaction => _tx;

    /// <summary>A cached, prepared command on the writer connection, its parameters cleared.</summary>
    public SqliteCommand Command(string sql) => _command(_conn, _tx, sql);

    public Task<StoredDefinition?> ReadDefinitionAsync(string name, string? version, CancellationToken cancellationToken) =>
        Task.FromResult(SqliteWorkflowLoader.ReadDefinition(_conn, _tx, _definitions, name, version));

    public Task<bool> UniqueKeyTakenAsync(string uniqueKey, string? exceptWorkflowId, CancellationToken cancellationToken)
    {
        var cmd = Command("SELECT COUNT(*) FROM workflows WHERE unique_key = $key AND status NOT IN ('failed', 'cancelled') AND id <> $except");
        ActivityRows.Set(cmd, "$key", uniqueKey);
        ActivityRows.Set(cmd, "$except", exceptWorkflowId ?? "");
        return Task.FromResult((long)cmd.ExecuteScalar()! > 0);
    }

    public Task<WorkflowState?> LockWorkflowAsync(string workflowId, bool skipLocked, CancellationToken cancellationToken) =>
        Task.FromResult(SqliteWorkflowLoader.LoadWorkflow(_conn, _tx, _definitions, workflowId));

    public Task<WorkflowState?> LockWorkflowOfActivityAsync(string activityId, CancellationToken cancellationToken)
    {
        var cmd = Command("SELECT workflow_id FROM activity_runs WHERE id = $id");
        ActivityRows.Set(cmd, "$id", activityId);
        return Task.FromResult(cmd.ExecuteScalar() is string wfId ? SqliteWorkflowLoader.LoadWorkflow(_conn, _tx, _definitions, wfId) : null);
    }

    public Task InsertWorkflowAsync(WorkflowState wf, CancellationToken cancellationToken)
    {
        var cmd = Command(
            "INSERT INTO workflows (id, definition_name, definition_version, status, input, unique_key, created_at, updated_at, deadline_at, budget_limit, " +
            "schedule_id, scheduled_at, priority, parent_id, parent_activity_key, parent_activity_id, parent_attempt, concurrency_key) VALUES ($id, $name, $version, " +
            "$status, $input, $unique_key, $now, $now, $deadline, $budget, $schedule, $scheduled, $priority, $parent, $parent_key, $parent_activity, " +
            "$parent_attempt, $concurrency_key)");
        ActivityRows.Set(cmd, "$id", wf.Id);
        ActivityRows.Set(cmd, "$name", wf.Definition.Name);
        ActivityRows.Set(cmd, "$version", wf.DefinitionVersion);
        ActivityRows.Set(cmd, "$status", wf.Status);
        ActivityRows.Set(cmd, "$input", wf.Input.ToJsonString());
        ActivityRows.Set(cmd, "$unique_key", wf.UniqueKey);
        ActivityRows.Set(cmd, "$now", wf.CreatedAt);
        ActivityRows.Set(cmd, "$deadline", wf.DeadlineAt);
        ActivityRows.Set(cmd, "$budget", wf.BudgetLimit?.ToString(CultureInfo.InvariantCulture));
        ActivityRows.Set(cmd, "$schedule", wf.ScheduleId);
        ActivityRows.Set(cmd, "$scheduled", wf.ScheduledAt);
        ActivityRows.Set(cmd, "$priority", wf.Priority);
        ActivityRows.Set(cmd, "$parent", wf.ParentId);
        ActivityRows.Set(cmd, "$parent_key", wf.ParentActivityKey);
        ActivityRows.Set(cmd, "$parent_activity", wf.ParentActivityId);
        ActivityRows.Set(cmd, "$parent_attempt", wf.ParentAttempt);
        ActivityRows.Set(cmd, "$concurrency_key", wf.ConcurrencyKey);
        cmd.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    public Task PersistAsync(WorkflowState wf, WorkflowMachine machine, IReadOnlyList<WorkflowEvent> leadingEvents, long now,
        CancellationToken cancellationToken)
    {
        if (wf.IsDirty)
        {
            var cmd = Command(
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
            if (!wf.Activities.TryGetValue(activity.Key, out var a) || (!a.IsNew && !a.IsDirty))
            {
                continue;
            }
            var cmd = Command(a.IsNew ? ActivityRows.InsertSql : ActivityRows.UpdateSql);
            ActivityRows.Bind(cmd, a, activity.Index);
            cmd.ExecuteNonQuery();
            a.IsNew = false;
            a.IsDirty = false;
        }
        PersistItems(wf);
        wf.IsDirty = false;
        InsertEvents(wf.Id, leadingEvents, now);
        var decision = machine.Decision;
        InsertEvents(wf.Id, decision.Events, now);
        foreach (var line in decision.CostLines)
        {
            InsertCostLine(wf.Id, line, now);
        }
        if (decision.CacheWrites.Count > 0)
        {
            WriteCache(decision.CacheWrites, now);
        }
        return Task.CompletedTask;
    }

    public Task PersistLinkedAsync(WorkflowState wf, WorkflowMachine machine, IReadOnlyList<WorkflowEvent> leadingEvents, long now,
        CancellationToken cancellationToken) =>
        PersistAsync(wf, machine, leadingEvents, now, cancellationToken); // the connection's transaction commits at the end

    public Task<(int Running, string? OldestWaitingId)> LockRunQueueAsync(string definitionName, string concurrencyKey,
        CancellationToken cancellationToken)
    {
        // SQLite's write transactions run one at a time: holding the transaction holds the queue.
        var cmd = Command(
            "SELECT (SELECT count(*) FROM workflows WHERE definition_name = $name AND concurrency_key = $key AND status = 'running'), " +
            "(SELECT id FROM workflows WHERE definition_name = $name AND concurrency_key = $key AND status = 'created' ORDER BY created_at, id LIMIT 1)");
        ActivityRows.Set(cmd, "$name", definitionName);
        ActivityRows.Set(cmd, "$key", concurrencyKey);
        using var r = cmd.ExecuteReader();
        r.Read();
        return Task.FromResult((r.GetInt32(0), r.IsDBNull(1) ? null : r.GetString(1)));
    }

    public Task<IReadOnlyList<ChildLink>> ReadRunningChildrenAsync(string parentId, CancellationToken cancellationToken)
    {
        var cmd = Command($"SELECT {RowReader.ChildLinkColumns} FROM workflows WHERE parent_id = $id " +
                          "AND status NOT IN ('completed', 'failed', 'cancelled') ORDER BY created_at, id");
        ActivityRows.Set(cmd, "$id", parentId);
        var links = new List<ChildLink>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            links.Add(RowReader.ChildLink(r));
        }
        return Task.FromResult<IReadOnlyList<ChildLink>>(links);
    }

    public Task<JsonObject?> ReadCacheAsync(string key, long now, CancellationToken cancellationToken)
    {
        var cmd = Command("SELECT outputs FROM result_cache WHERE key = $key AND expires_at > $now");
        ActivityRows.Set(cmd, "$key", key);
        ActivityRows.Set(cmd, "$now", now);
        return Task.FromResult(cmd.ExecuteScalar() is string json ? JsonLimits.ParseStored(json) as JsonObject : null);
    }

    private void InsertCostLine(string workflowId, Spindle.Core.Costs.CostLine line, long now)
    {
        var cmd = Command(
            "INSERT INTO cost_lines (workflow_id, activity_key, iteration, attempt, provider, model, input_tokens, output_tokens, " +
            "cache_read_tokens, cache_creation_tokens, cache_storage_token_hours, cost_usd, budget_limit_usd, budget_event, estimated_cost_usd, created_at) " +
            "VALUES ($wf, $key, $iteration, $attempt, $provider, $model, $input, $output, $read, $write, $hours, $cost, $limit, $event, $estimate, $now)");
        ActivityRows.Set(cmd, "$wf", workflowId);
        ActivityRows.Set(cmd, "$key", line.ActivityKey);
        ActivityRows.Set(cmd, "$iteration", line.Iteration);
        ActivityRows.Set(cmd, "$attempt", line.Attempt);
        ActivityRows.Set(cmd, "$provider", line.Provider);
        ActivityRows.Set(cmd, "$model", line.Model);
        ActivityRows.Set(cmd, "$input", line.Tokens.InputTokens);
        ActivityRows.Set(cmd, "$output", line.Tokens.OutputTokens);
        ActivityRows.Set(cmd, "$read", line.Tokens.CacheReadTokens);
        ActivityRows.Set(cmd, "$write", line.Tokens.CacheCreationTokens);
        ActivityRows.Set(cmd, "$hours", Text(line.Tokens.CacheStorageTokenHours));
        ActivityRows.Set(cmd, "$cost", Text(line.CostUsd));
        ActivityRows.Set(cmd, "$limit", line.BudgetLimitUsd is { } limit ? Text(limit) : null);
        ActivityRows.Set(cmd, "$event", line.BudgetEvent);
        ActivityRows.Set(cmd, "$estimate", line.EstimatedCostUsd is { } estimate ? Text(estimate) : null);
        ActivityRows.Set(cmd, "$now", now);
        cmd.ExecuteNonQuery();
    }

    private void WriteCache(IReadOnlyList<CacheEntry> entries, long now)
    {
        var purge = Command("DELETE FROM result_cache WHERE expires_at <= $now");
        ActivityRows.Set(purge, "$now", now);
        purge.ExecuteNonQuery();
        foreach (var entry in entries)
        {
            var cmd = Command("INSERT OR REPLACE INTO result_cache (key, outputs, created_at, expires_at) VALUES ($key, $outputs, $now, $expires)");
            ActivityRows.Set(cmd, "$key", entry.Key);
            ActivityRows.Set(cmd, "$outputs", entry.Outputs.ToJsonString());
            ActivityRows.Set(cmd, "$now", now);
            ActivityRows.Set(cmd, "$expires", entry.ExpiresAt);
            cmd.ExecuteNonQuery();
        }
    }

    private static string Text(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    public Task AppendEventsAsync(string workflowId, IReadOnlyList<WorkflowEvent> events, long now, CancellationToken cancellationToken)
    {
        InsertEvents(workflowId, events, now);
        return Task.CompletedTask;
    }

    public void InsertEvents(string workflowId, IReadOnlyList<WorkflowEvent> events, long now)
    {
        foreach (var e in events)
        {
            var cmd = Command(
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
}
