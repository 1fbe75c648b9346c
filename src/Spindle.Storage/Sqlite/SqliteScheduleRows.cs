using Microsoft.Data.Sqlite;
using Spindle.Storage.Schedules;

namespace Spindle.Storage.Sqlite;

/// <summary>
/// Schedule rows on the single writer connection. Holding the write transaction already serialises every firing,
/// so the locks <see cref="IScheduleRows"/> asks for are implied, and one process is the only scheduler of the file.
/// </summary>
internal sealed class SqliteScheduleRows(SqliteWriteTransaction tx) : IScheduleRows
{
    private const string Select = "SELECT " + ScheduleRowReader.Columns + " FROM schedules s";

    public Task<StoredSchedule?> LockDueAsync(long now, CancellationToken cancellationToken)
    {
        var cmd = tx.Command(Select +
            " WHERE s.due_at <= $now OR (s.enabled = 1 AND s.buffered_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM workflows w " +
            "WHERE w.id = s.last_workflow_id AND w.status NOT IN ('completed', 'failed', 'cancelled'))) ORDER BY s.due_at LIMIT 1");
        ActivityRows.Set(cmd, "$now", now);
        return Task.FromResult(One(cmd));
    }

    public Task<StoredSchedule?> GetAsync(string id, bool forUpdate, CancellationToken cancellationToken)
    {
        var cmd = tx.Command(Select + " WHERE s.id = $id");
        ActivityRows.Set(cmd, "$id", id);
        return Task.FromResult(One(cmd));
    }

    public Task<StoredSchedule?> LockByNameAsync(string name, CancellationToken cancellationToken)
    {
        var cmd = tx.Command(Select + " WHERE s.name = $name");
        ActivityRows.Set(cmd, "$name", name);
        return Task.FromResult(One(cmd));
    }

    public Task<IReadOnlyList<StoredSchedule>> ListAsync(string? declaredBy, CancellationToken cancellationToken)
    {
        var cmd = tx.Command(declaredBy is null ? Select + " ORDER BY s.name" : Select + " WHERE s.declared_by = $by ORDER BY s.name");
        if (declaredBy is not null)
        {
            ActivityRows.Set(cmd, "$by", declaredBy);
        }
        var list = new List<StoredSchedule>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            list.Add(ScheduleRowReader.Read(r));
        }
        return Task.FromResult<IReadOnlyList<StoredSchedule>>(list);
    }

    public Task<bool> InsertAsync(StoredSchedule s, CancellationToken cancellationToken)
    {
        var cmd = tx.Command(
            "INSERT INTO schedules (id, name, spec, enabled, anchor_at, next_run_at, due_at, last_run_at, last_workflow_id, buffered_at, " +
            "run_count, skipped_count, pause_note, declared_by, created_by, created_at, updated_at) VALUES ($id, $name, $spec, $enabled, " +
            "$anchor, $next, $due, $last_run, $last_wf, $buffered, $runs, $skipped, $note, $declared, $by, $created, $updated) " +
            "ON CONFLICT (name) DO NOTHING");
        Bind(cmd, s);
        ActivityRows.Set(cmd, "$name", s.Spec.Name);
        ActivityRows.Set(cmd, "$declared", s.DeclaredBy);
        ActivityRows.Set(cmd, "$by", s.CreatedBy);
        ActivityRows.Set(cmd, "$created", s.CreatedAt);
        return Task.FromResult(cmd.ExecuteNonQuery() == 1);
    }

    public Task UpdateAsync(StoredSchedule s, CancellationToken cancellationToken)
    {
        var cmd = tx.Command(
            "UPDATE schedules SET spec = $spec, enabled = $enabled, anchor_at = $anchor, next_run_at = $next, due_at = $due, " +
            "last_run_at = $last_run, last_workflow_id = $last_wf, buffered_at = $buffered, run_count = $runs, skipped_count = $skipped, " +
            "pause_note = $note, updated_at = $updated WHERE id = $id");
        Bind(cmd, s);
        cmd.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        var runs = tx.Command("DELETE FROM schedule_runs WHERE schedule_id = $id");
        ActivityRows.Set(runs, "$id", id);
        runs.ExecuteNonQuery();
        var cmd = tx.Command("DELETE FROM schedules WHERE id = $id");
        ActivityRows.Set(cmd, "$id", id);
        return Task.FromResult(cmd.ExecuteNonQuery() == 1);
    }

    public Task AddRunAsync(string scheduleId, ScheduleRun run, CancellationToken cancellationToken)
    {
        var cmd = tx.Command(
            "INSERT INTO schedule_runs (schedule_id, occurrence_at, outcome, workflow_id, message, created_at) " +
            "VALUES ($id, $at, $outcome, $wf, $message, $created)");
        ActivityRows.Set(cmd, "$id", scheduleId);
        ActivityRows.Set(cmd, "$at", run.OccurrenceAt);
        ActivityRows.Set(cmd, "$outcome", run.Outcome);
        ActivityRows.Set(cmd, "$wf", run.WorkflowId);
        ActivityRows.Set(cmd, "$message", run.Message);
        ActivityRows.Set(cmd, "$created", run.CreatedAt);
        cmd.ExecuteNonQuery();
        var prune = tx.Command(
            "DELETE FROM schedule_runs WHERE schedule_id = $id AND seq <= (SELECT seq FROM schedule_runs WHERE schedule_id = $id " +
            "ORDER BY seq DESC LIMIT 1 OFFSET $kept)");
        ActivityRows.Set(prune, "$id", scheduleId);
        ActivityRows.Set(prune, "$kept", ScheduleRowReader.RunsKept);
        prune.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<ScheduleRun>> RunsAsync(string scheduleId, int limit, CancellationToken cancellationToken)
    {
        var cmd = tx.Command($"SELECT {ScheduleRowReader.RunColumns} FROM schedule_runs WHERE schedule_id = $id ORDER BY seq DESC LIMIT $limit");
        ActivityRows.Set(cmd, "$id", scheduleId);
        ActivityRows.Set(cmd, "$limit", limit);
        var list = new List<ScheduleRun>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            list.Add(ScheduleRowReader.ReadRun(r));
        }
        return Task.FromResult<IReadOnlyList<ScheduleRun>>(list);
    }

    public Task<string?> WorkflowStatusAsync(string workflowId, CancellationToken cancellationToken)
    {
        var cmd = tx.Command("SELECT status FROM workflows WHERE id = $id");
        ActivityRows.Set(cmd, "$id", workflowId);
        return Task.FromResult(cmd.ExecuteScalar() as string);
    }

    public Task<(long? NextDueAt, bool AnyBuffered)> PlanAsync(CancellationToken cancellationToken)
    {
        var cmd = tx.Command("SELECT MIN(due_at), MAX(CASE WHEN enabled = 1 AND buffered_at IS NOT NULL THEN 1 ELSE 0 END) FROM schedules");
        using var r = cmd.ExecuteReader();
        r.Read();
        return Task.FromResult<(long?, bool)>((r.IsDBNull(0) ? null : r.GetInt64(0), !r.IsDBNull(1) && r.GetInt64(1) == 1));
    }

    public Task AnnounceChangeAsync(CancellationToken cancellationToken) => Task.CompletedTask; // one process per file

    private static void Bind(SqliteCommand cmd, StoredSchedule s)
    {
        ActivityRows.Set(cmd, "$id", s.Id);
        ActivityRows.Set(cmd, "$spec", ScheduleRowReader.SpecJson(s.Spec));
        ActivityRows.Set(cmd, "$enabled", s.Spec.Enabled ? 1 : 0);
        ActivityRows.Set(cmd, "$anchor", s.AnchorAt);
        ActivityRows.Set(cmd, "$next", s.NextRunAt);
        ActivityRows.Set(cmd, "$due", s.DueAt);
        ActivityRows.Set(cmd, "$last_run", s.LastRunAt);
        ActivityRows.Set(cmd, "$last_wf", s.LastWorkflowId);
        ActivityRows.Set(cmd, "$buffered", s.BufferedAt);
        ActivityRows.Set(cmd, "$runs", s.RunCount);
        ActivityRows.Set(cmd, "$skipped", s.SkippedCount);
        ActivityRows.Set(cmd, "$note", s.PauseNote);
        ActivityRows.Set(cmd, "$updated", s.UpdatedAt);
    }

    private static StoredSchedule? One(SqliteCommand cmd)
    {
        using var r = cmd.ExecuteReader();
        return r.Read() ? ScheduleRowReader.Read(r) : null;
    }
}
