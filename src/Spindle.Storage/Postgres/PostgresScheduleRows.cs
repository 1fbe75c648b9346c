using Npgsql;
using Spindle.Storage.Schedules;

namespace Spindle.Storage.Postgres;

/// <summary>
/// Schedule rows in a PostgreSQL transaction. Servers sharing the database claim due schedules with
/// <c>FOR UPDATE SKIP LOCKED</c>, so each occurrence is decided by exactly one of them; changes are announced on
/// <see cref="PostgresChannels.Schedules"/> so that the others re-plan their sleep.
/// </summary>
internal sealed class PostgresScheduleRows(PostgresWriteTransaction tx) : IScheduleRows
{
    private const string Select = "SELECT " + ScheduleRowReader.Columns + " FROM schedules s";

    private const string Assignments =
        "spec = $2, enabled = $3, anchor_at = $4, next_run_at = $5, due_at = $6, last_run_at = $7, last_workflow_id = $8, " +
        "buffered_at = $9, run_count = $10, skipped_count = $11, pause_note = $12, updated_at = $13";

    public Task<StoredSchedule?> LockDueAsync(long now, CancellationToken cancellationToken) =>
        OneAsync(Select +
            " WHERE s.due_at <= $1 OR (s.enabled AND s.buffered_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM workflows w " +
            "WHERE w.id = s.last_workflow_id AND w.status NOT IN ('completed', 'failed', 'cancelled'))) " +
            "ORDER BY s.due_at NULLS FIRST LIMIT 1 FOR UPDATE OF s SKIP LOCKED", cancellationToken, PgParameters.Bigint(now));

    public Task<StoredSchedule?> GetAsync(string id, bool forUpdate, CancellationToken cancellationToken) =>
        OneAsync(Select + " WHERE s.id = $1" + (forUpdate ? " FOR UPDATE" : ""), cancellationToken, PgParameters.Text(id));

    public Task<StoredSchedule?> LockByNameAsync(string name, CancellationToken cancellationToken) =>
        OneAsync(Select + " WHERE s.name = $1 FOR UPDATE", cancellationToken, PgParameters.Text(name));

    public async Task<IReadOnlyList<StoredSchedule>> ListAsync(string? declaredBy, CancellationToken cancellationToken)
    {
        await using var cmd = Command(declaredBy is null ? Select + " ORDER BY s.name" : Select + " WHERE s.declared_by = $1 ORDER BY s.name");
        if (declaredBy is not null)
        {
            cmd.Parameters.Add(PgParameters.Text(declaredBy));
        }
        var list = new List<StoredSchedule>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(ScheduleRowReader.Read(r));
        }
        return list;
    }

    public async Task<bool> InsertAsync(StoredSchedule s, CancellationToken cancellationToken)
    {
        await using var cmd = Command(
            "INSERT INTO schedules (id, spec, enabled, anchor_at, next_run_at, due_at, last_run_at, last_workflow_id, buffered_at, " +
            "run_count, skipped_count, pause_note, updated_at, name, declared_by, created_by, created_at) " +
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (name) DO NOTHING");
        Bind(cmd, s);
        cmd.Parameters.Add(PgParameters.Text(s.Spec.Name));
        cmd.Parameters.Add(PgParameters.Text(s.DeclaredBy));
        cmd.Parameters.Add(PgParameters.Text(s.CreatedBy));
        cmd.Parameters.Add(PgParameters.Bigint(s.CreatedAt));
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task UpdateAsync(StoredSchedule s, CancellationToken cancellationToken)
    {
        await using var cmd = Command("UPDATE schedules SET " + Assignments + " WHERE id = $1");
        Bind(cmd, s);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        await using var cmd = Command("DELETE FROM schedule_runs WHERE schedule_id = $1");
        cmd.Parameters.Add(PgParameters.Text(id));
        await cmd.ExecuteNonQueryAsync(cancellationToken);
        await using var delete = Command("DELETE FROM schedules WHERE id = $1");
        delete.Parameters.Add(PgParameters.Text(id));
        return await delete.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task AddRunAsync(string scheduleId, ScheduleRun run, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(tx.Connection, tx.Transaction);
        batch.BatchCommands.Add(PgParameters.Statement(
            "INSERT INTO schedule_runs (schedule_id, occurrence_at, outcome, workflow_id, message, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            PgParameters.Text(scheduleId), PgParameters.Bigint(run.OccurrenceAt), PgParameters.Text(run.Outcome),
            PgParameters.Text(run.WorkflowId), PgParameters.Text(run.Message), PgParameters.Bigint(run.CreatedAt)));
        batch.BatchCommands.Add(PgParameters.Statement(
            "DELETE FROM schedule_runs WHERE schedule_id = $1 AND seq <= (SELECT seq FROM schedule_runs WHERE schedule_id = $1 " +
            "ORDER BY seq DESC OFFSET $2 LIMIT 1)", PgParameters.Text(scheduleId), PgParameters.Integer(ScheduleRowReader.RunsKept)));
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<ScheduleRun>> RunsAsync(string scheduleId, int limit, CancellationToken cancellationToken)
    {
        await using var cmd = Command($"SELECT {ScheduleRowReader.RunColumns} FROM schedule_runs WHERE schedule_id = $1 ORDER BY seq DESC LIMIT $2");
        cmd.Parameters.Add(PgParameters.Text(scheduleId));
        cmd.Parameters.Add(PgParameters.Integer(limit));
        var list = new List<ScheduleRun>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(ScheduleRowReader.ReadRun(r));
        }
        return list;
    }

    public async Task<string?> WorkflowStatusAsync(string workflowId, CancellationToken cancellationToken)
    {
        await using var cmd = Command("SELECT status FROM workflows WHERE id = $1");
        cmd.Parameters.Add(PgParameters.Text(workflowId));
        return await cmd.ExecuteScalarAsync(cancellationToken) as string;
    }

    public async Task<(long? NextDueAt, bool AnyBuffered)> PlanAsync(CancellationToken cancellationToken)
    {
        await using var cmd = Command("SELECT MIN(due_at), COALESCE(bool_or(enabled AND buffered_at IS NOT NULL), false) FROM schedules");
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        await r.ReadAsync(cancellationToken);
        return (r.IsDBNull(0) ? null : r.GetInt64(0), r.GetBoolean(1));
    }

    public async Task AnnounceChangeAsync(CancellationToken cancellationToken)
    {
        await using var cmd = Command($"SELECT pg_notify('{PostgresChannels.Schedules}', '')");
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private NpgsqlCommand Command(string sql) => new(sql, tx.Connection, tx.Transaction);

    private static void Bind(NpgsqlCommand cmd, StoredSchedule s) => cmd.Parameters.AddRange(new[]
    {
        PgParameters.Text(s.Id), PgParameters.Json(ScheduleRowReader.SpecJson(s.Spec)), PgParameters.Boolean(s.Spec.Enabled),
        PgParameters.Bigint(s.AnchorAt), PgParameters.Bigint(s.NextRunAt), PgParameters.Bigint(s.DueAt), PgParameters.Bigint(s.LastRunAt),
        PgParameters.Text(s.LastWorkflowId), PgParameters.Bigint(s.BufferedAt), PgParameters.Integer(s.RunCount),
        PgParameters.Integer(s.SkippedCount), PgParameters.Text(s.PauseNote), PgParameters.Bigint(s.UpdatedAt),
    });

    private async Task<StoredSchedule?> OneAsync(string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var cmd = Command(sql);
        cmd.Parameters.AddRange(parameters);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        return await r.ReadAsync(cancellationToken) ? ScheduleRowReader.Read(r) : null;
    }
}
