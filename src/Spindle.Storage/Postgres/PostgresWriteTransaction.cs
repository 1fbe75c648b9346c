using System.Text.Json.Nodes;
using Npgsql;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Postgres;

/// <summary>
/// One write transaction on a pooled connection. Workflows are serialised by <c>SELECT … FOR UPDATE</c> on their
/// row; everything the decision changed is written in one batch that ends with the COMMIT (one round trip, and the
/// workflow's lock is released a round trip sooner). Wake-ups for other servers are not part of it: they follow the
/// commit (<see cref="PostgresNotificationSender"/>).
/// </summary>
internal sealed partial class PostgresWriteTransaction : IWriteTransaction
{
    private const string UpdateWorkflowSql =
        "UPDATE workflows SET status = $2, error_message = $3, updated_at = $4, completed_at = $5, deadline_at = $6, " +
        "total_cost = $7 WHERE id = $1";

    private const string InsertWorkflowSql =
        "INSERT INTO workflows (id, definition_name, definition_version, status, input, unique_key, error_message, created_at, " +
        "updated_at, completed_at, deadline_at, total_cost, budget_limit, schedule_id, scheduled_at, priority, parent_id, " +
        "parent_activity_key, parent_activity_id, parent_attempt, concurrency_key) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)";

    private const string InsertEventsSql =
        "INSERT INTO events (id, workflow_id, event_type, activity_key, iteration, payload, created_at) " +
        "SELECT e.id, $1, e.event_type, e.activity_key, e.iteration, e.payload, $2 " +
        "FROM unnest($3::text[], $4::text[], $5::text[], $6::integer[], $7::json[]) WITH ORDINALITY " +
        "AS e(id, event_type, activity_key, iteration, payload, n) ORDER BY e.n";

    private const string InsertCostLinesSql =
        "INSERT INTO cost_lines (workflow_id, activity_key, iteration, attempt, provider, model, input_tokens, output_tokens, " +
        "cache_read_tokens, cache_creation_tokens, cache_storage_token_hours, cost_usd, budget_limit_usd, budget_event, estimated_cost_usd, created_at) " +
        "SELECT $1, c.activity_key, c.iteration, c.attempt, c.provider, c.model, c.input_tokens, c.output_tokens, c.cache_read_tokens, " +
        "c.cache_creation_tokens, c.hours, c.cost, c.budget_limit, c.budget_event, c.estimate, $2 " +
        "FROM unnest($3::text[], $4::integer[], $5::integer[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], " +
        "$12::numeric[], $13::numeric[], $14::numeric[], $15::text[], $16::numeric[]) WITH ORDINALITY " +
        "AS c(activity_key, iteration, attempt, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, " +
        "hours, cost, budget_limit, budget_event, estimate, n) ORDER BY c.n";

    private const string PurgeCacheSql = "DELETE FROM result_cache WHERE expires_at <= $1";

    private const string WriteCacheSql =
        "INSERT INTO result_cache (key, outputs, created_at, expires_at) VALUES ($1, $2, $3, $4) " +
        "ON CONFLICT (key) DO UPDATE SET outputs = EXCLUDED.outputs, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at";

    private readonly NpgsqlConnection _conn;
    private readonly NpgsqlTransaction _tx;
    private readonly DefinitionCache _definitions;

    /// <summary>Status and lease of each activity row as this transaction read (or last wrote) it, by workflow and key:
    /// the guard of its update. A transaction may hold several workflows (a parent and its children,
    /// docs/architecture.md#child-workflows).</summary>
    private readonly Dictionary<(string WorkflowId, string Key), PostgresActivityRows.ReadRow> _read = [];

    /// <summary>Submitted workflows are inserted with the machine's result, not inserted and then updated.</summary>
    private readonly HashSet<WorkflowState> _unwritten = new(ReferenceEqualityComparer.Instance);

    public PostgresWriteTransaction(NpgsqlConnection conn, NpgsqlTransaction tx, DefinitionCache definitions)
    {
        _conn = conn;
        _tx = tx;
        _definitions = definitions;
    }

    public NpgsqlConnection Connection => _conn;

    public NpgsqlTransaction Transaction => _tx;

    /// <summary>Whether <see cref="PersistAsync"/> committed the transaction (its batch ends with COMMIT).</summary>
    public bool Committed { get; private set; }

    public Task<StoredDefinition?> ReadDefinitionAsync(string name, string? version, CancellationToken cancellationToken) =>
        PostgresWorkflowLoader.ReadDefinitionAsync(_conn, _tx, _definitions, name, version, cancellationToken);

    public async Task<bool> UniqueKeyTakenAsync(string uniqueKey, string? exceptWorkflowId, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM workflows WHERE unique_key = $1 AND status NOT IN ('failed', 'cancelled') AND id <> $2)",
            _conn, _tx);
        cmd.Parameters.Add(PgParameters.Text(uniqueKey));
        cmd.Parameters.Add(PgParameters.Text(exceptWorkflowId ?? ""));
        return (bool)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<WorkflowState?> LockWorkflowAsync(string workflowId, bool skipLocked, CancellationToken cancellationToken) =>
        Remember(await PostgresWorkflowLoader.LoadAsync(_conn, _tx, _definitions, workflowId,
            skipLocked ? PostgresWorkflowLoader.Lock.ForUpdateSkipLocked : PostgresWorkflowLoader.Lock.ForUpdate, cancellationToken));

    public async Task<WorkflowState?> LockWorkflowOfActivityAsync(string activityId, CancellationToken cancellationToken) =>
        Remember(await PostgresWorkflowLoader.LoadOfActivityAsync(_conn, _tx, _definitions, activityId, cancellationToken));

    public Task InsertWorkflowAsync(WorkflowState workflow, CancellationToken cancellationToken)
    {
        _unwritten.Add(workflow);
        return Task.CompletedTask;
    }

    public Task PersistAsync(WorkflowState wf, WorkflowMachine machine, IReadOnlyList<WorkflowEvent> leadingEvents, long now,
        CancellationToken cancellationToken) =>
        PersistAsync(wf, machine, leadingEvents, now, commit: true, cancellationToken);

    public Task PersistLinkedAsync(WorkflowState wf, WorkflowMachine machine, IReadOnlyList<WorkflowEvent> leadingEvents, long now,
        CancellationToken cancellationToken) =>
        PersistAsync(wf, machine, leadingEvents, now, commit: false, cancellationToken);

    private async Task PersistAsync(WorkflowState wf, WorkflowMachine machine, IReadOnlyList<WorkflowEvent> leadingEvents, long now,
        bool commit, CancellationToken cancellationToken)
    {
        if (Committed)
        {
            throw new InvalidOperationException("The transaction was committed by an earlier PersistAsync; persisting is the last call.");
        }
        await using var batch = new NpgsqlBatch(_conn, _tx);
        if (_unwritten.Remove(wf))
        {
            batch.BatchCommands.Add(InsertWorkflow(wf));
        }
        else if (wf.IsDirty)
        {
            batch.BatchCommands.Add(PgParameters.Statement(UpdateWorkflowSql,
                PgParameters.Text(wf.Id), PgParameters.Text(wf.Status), PgParameters.Text(wf.ErrorMessage),
                PgParameters.Bigint(wf.UpdatedAt), PgParameters.Bigint(wf.CompletedAt), PgParameters.Bigint(wf.DeadlineAt),
                PgParameters.Numeric(wf.TotalCost)));
        }

        var inserts = new List<(ActivityState, ActivityDefinition)>();
        foreach (var activity in wf.Definition.Activities)
        {
            if (!wf.Activities.TryGetValue(activity.Key, out var a))
            {
                continue; // a run waiting for a concurrency slot has no activities yet
            }
            if (a.IsNew)
            {
                inserts.Add((a, activity));
            }
            else if (a.IsDirty)
            {
                batch.BatchCommands.Add(PostgresActivityRows.Update(a, activity.Index, ReadOf(wf.Id, a)));
            }
        }
        AddItemWrites(wf, batch, inserts);
        if (inserts.Count > 0)
        {
            batch.BatchCommands.Add(PostgresActivityRows.InsertMany(inserts));
        }

        var decision = machine.Decision;
        var events = leadingEvents.Count == 0 ? decision.Events : [.. leadingEvents, .. decision.Events];
        if (events.Count > 0)
        {
            batch.BatchCommands.Add(InsertEvents(wf.Id, events, now));
        }
        if (decision.CostLines.Count > 0)
        {
            batch.BatchCommands.Add(InsertCostLines(wf.Id, decision.CostLines, now));
        }
        if (decision.CacheWrites.Count > 0)
        {
            batch.BatchCommands.Add(PgParameters.Statement(PurgeCacheSql, PgParameters.Bigint(now)));
            foreach (var entry in decision.CacheWrites)
            {
                batch.BatchCommands.Add(PgParameters.Statement(WriteCacheSql, PgParameters.Text(entry.Key),
                    PgParameters.Json(entry.Outputs.ToJsonString()), PgParameters.Bigint(now), PgParameters.Bigint(entry.ExpiresAt)));
            }
        }
        if (batch.BatchCommands.Count == 0)
        {
            return;
        }

        // Persisting is the last thing every decision does, so the COMMIT goes with it. A guarded update that
        // matched nothing raises first; the server then skips the rest of the batch, COMMIT included.
        if (commit)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        }
        await batch.ExecuteNonQueryAsync(cancellationToken);
        Committed = commit;
        foreach (var a in wf.Activities.Values.Concat(wf.Items.Values))
        {
            a.IsNew = false;
            a.IsDirty = false;
            _read[(wf.Id, a.Key)] = PostgresActivityRows.ReadRow.Of(a);
        }
        wf.IsDirty = false;
    }

    public async Task<(int Running, string? OldestWaitingId)> LockRunQueueAsync(string definitionName, string concurrencyKey,
        CancellationToken cancellationToken)
    {
        // Read committed: the queue is read by statements of their own, so their snapshot is taken after the lock is held.
        await using (var lockQueue = new NpgsqlCommand(
            "SELECT pg_advisory_xact_lock(hashtextextended('spindle.run-concurrency:' || $1 || chr(10) || $2, 0))", _conn, _tx))
        {
            lockQueue.Parameters.Add(PgParameters.Text(definitionName));
            lockQueue.Parameters.Add(PgParameters.Text(concurrencyKey));
            await lockQueue.ExecuteNonQueryAsync(cancellationToken);
        }
        await using var cmd = new NpgsqlCommand(
            "SELECT (SELECT count(*)::integer FROM workflows WHERE definition_name = $1 AND concurrency_key = $2 AND status = 'running'), " +
            "(SELECT id FROM workflows WHERE definition_name = $1 AND concurrency_key = $2 AND status = 'created' ORDER BY created_at, id LIMIT 1)",
            _conn, _tx);
        cmd.Parameters.Add(PgParameters.Text(definitionName));
        cmd.Parameters.Add(PgParameters.Text(concurrencyKey));
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        await r.ReadAsync(cancellationToken);
        return (r.GetInt32(0), r.IsDBNull(1) ? null : r.GetString(1));
    }

    public async Task<IReadOnlyList<ChildLink>> ReadRunningChildrenAsync(string parentId, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand($"SELECT {RowReader.ChildLinkColumns} FROM workflows WHERE parent_id = $1 " +
                                                "AND status NOT IN ('completed', 'failed', 'cancelled') ORDER BY created_at, id", _conn, _tx);
        cmd.Parameters.Add(PgParameters.Text(parentId));
        var links = new List<ChildLink>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            links.Add(RowReader.ChildLink(r));
        }
        return links;
    }

    private PostgresActivityRows.ReadRow ReadOf(string workflowId, ActivityState a) =>
        _read.TryGetValue((workflowId, a.Key), out var read) ? read : PostgresActivityRows.ReadRow.Unread(a);

    private WorkflowState? Remember(WorkflowState? wf)
    {
        if (wf is not null)
        {
            foreach (var a in wf.Activities.Values)
            {
                _read[(wf.Id, a.Key)] = PostgresActivityRows.ReadRow.Of(a);
            }
        }
        return wf;
    }

    private static NpgsqlBatchCommand InsertWorkflow(WorkflowState wf) =>
        PgParameters.Statement(InsertWorkflowSql,
            PgParameters.Text(wf.Id), PgParameters.Text(wf.Definition.Name), PgParameters.Text(wf.DefinitionVersion),
            PgParameters.Text(wf.Status), PgParameters.Json(wf.Input.ToJsonString()), PgParameters.Text(wf.UniqueKey),
            PgParameters.Text(wf.ErrorMessage), PgParameters.Bigint(wf.CreatedAt), PgParameters.Bigint(wf.UpdatedAt),
            PgParameters.Bigint(wf.CompletedAt), PgParameters.Bigint(wf.DeadlineAt), PgParameters.Numeric(wf.TotalCost),
            PgParameters.Numeric(wf.BudgetLimit), PgParameters.Text(wf.ScheduleId), PgParameters.Bigint(wf.ScheduledAt),
            PgParameters.Integer(wf.Priority), PgParameters.Text(wf.ParentId), PgParameters.Text(wf.ParentActivityKey),
            PgParameters.Text(wf.ParentActivityId), PgParameters.Integer(wf.ParentAttempt), PgParameters.Text(wf.ConcurrencyKey));

    public async Task AppendEventsAsync(string workflowId, IReadOnlyList<WorkflowEvent> events, long now, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(_conn, _tx);
        batch.BatchCommands.Add(InsertEvents(workflowId, events, now));
        await batch.ExecuteNonQueryAsync(cancellationToken); // the store commits after the work, as for any transaction
    }

    /// <summary>All events of the transaction in one statement, in the order the machine emitted them.</summary>
    private static NpgsqlBatchCommand InsertEvents(string workflowId, IReadOnlyList<WorkflowEvent> events, long now)
    {
        var ids = new string?[events.Count];
        var types = new string?[events.Count];
        var keys = new string?[events.Count];
        var iterations = new int?[events.Count];
        var payloads = new string?[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            ids[i] = Ids.New();
            types[i] = e.EventType;
            keys[i] = e.ActivityKey;
            iterations[i] = e.Iteration;
            payloads[i] = e.Payload.ToJsonString();
        }
        return PgParameters.Statement(InsertEventsSql,
            PgParameters.Text(workflowId), PgParameters.Bigint(now), PgParameters.TextArray(ids), PgParameters.TextArray(types),
            PgParameters.TextArray(keys), PgParameters.IntegerArray(iterations), PgParameters.JsonArray(payloads));
    }

    private static NpgsqlBatchCommand InsertCostLines(string workflowId, IReadOnlyList<CostLine> lines, long now)
    {
        static NpgsqlParameter Numerics(IEnumerable<decimal?> values) =>
            new() { Value = values.ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Numeric };
        return PgParameters.Statement(InsertCostLinesSql,
            PgParameters.Text(workflowId), PgParameters.Bigint(now),
            PgParameters.TextArray([.. lines.Select(l => (string?)l.ActivityKey)]),
            PgParameters.IntegerArray([.. lines.Select(l => (int?)l.Iteration)]),
            PgParameters.IntegerArray([.. lines.Select(l => (int?)l.Attempt)]),
            PgParameters.TextArray([.. lines.Select(l => l.Provider)]),
            PgParameters.TextArray([.. lines.Select(l => l.Model)]),
            PgParameters.BigintArray([.. lines.Select(l => (long?)l.Tokens.InputTokens)]),
            PgParameters.BigintArray([.. lines.Select(l => (long?)l.Tokens.OutputTokens)]),
            PgParameters.BigintArray([.. lines.Select(l => (long?)l.Tokens.CacheReadTokens)]),
            PgParameters.BigintArray([.. lines.Select(l => (long?)l.Tokens.CacheCreationTokens)]),
            Numerics(lines.Select(l => (decimal?)l.Tokens.CacheStorageTokenHours)),
            Numerics(lines.Select(l => (decimal?)l.CostUsd)),
            Numerics(lines.Select(l => l.BudgetLimitUsd)),
            PgParameters.TextArray([.. lines.Select(l => l.BudgetEvent)]),
            Numerics(lines.Select(l => l.EstimatedCostUsd)));
    }

    public async Task<JsonObject?> ReadCacheAsync(string key, long now, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand("SELECT outputs::text FROM result_cache WHERE key = $1 AND expires_at > $2", _conn, _tx);
        cmd.Parameters.Add(PgParameters.Text(key));
        cmd.Parameters.Add(PgParameters.Bigint(now));
        return await cmd.ExecuteScalarAsync(cancellationToken) is string json ? JsonLimits.ParseStored(json) as JsonObject : null;
    }
}
