using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Spindle.Core.Common;
using Spindle.Core.Orchestration;

namespace Spindle.Storage.Sqlite;

/// <summary>Reads definitions and whole workflows (row plus activity rows); used by queries and write transactions alike.</summary>
internal static class SqliteWorkflowLoader
{
    public static StoredDefinition? ReadDefinition(SqliteConnection conn, SqliteTransaction? tx, DefinitionCache definitions,
        string name, string? version)
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
        var definition = definitions.GetOrAdd(name, v, () => json);
        return new StoredDefinition(name, v, definition, r.GetInt64(2));
    }

    public static WorkflowState? LoadWorkflow(SqliteConnection conn, SqliteTransaction? tx, DefinitionCache definitions, string workflowId)
    {
        WorkflowState wf;
        using (var cmd = conn.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText =
                "SELECT definition_name, definition_version, status, input, unique_key, error_message, created_at, updated_at, " +
                "completed_at, deadline_at, total_cost, budget_limit, schedule_id, scheduled_at FROM workflows WHERE id = $id";
            cmd.Parameters.AddWithValue("$id", workflowId);
            using var r = cmd.ExecuteReader();
            if (!r.Read())
            {
                return null;
            }
            var name = r.GetString(0);
            var version = r.GetString(1);
            var definition = definitions.GetOrAdd(name, version, () => DefinitionJson(conn, tx, name, version));
            wf = new WorkflowState
            {
                Id = workflowId,
                Definition = definition,
                DefinitionVersion = version,
                Status = r.GetString(2),
                Input = JsonLimits.ParseStored(r.GetString(3))!.AsObject(),
                UniqueKey = r.IsDBNull(4) ? null : r.GetString(4),
                ErrorMessage = r.IsDBNull(5) ? null : r.GetString(5),
                CreatedAt = r.GetInt64(6),
                UpdatedAt = r.GetInt64(7),
                CompletedAt = r.IsDBNull(8) ? null : r.GetInt64(8),
                DeadlineAt = r.IsDBNull(9) ? null : r.GetInt64(9),
                TotalCost = decimal.Parse(r.GetString(10), CultureInfo.InvariantCulture),
                BudgetLimit = r.IsDBNull(11) ? null : decimal.Parse(r.GetString(11), CultureInfo.InvariantCulture),
                ScheduleId = r.IsDBNull(12) ? null : r.GetString(12),
                ScheduledAt = r.IsDBNull(13) ? null : r.GetInt64(13),
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

    private static string DefinitionJson(SqliteConnection conn, SqliteTransaction? tx, string name, string version)
    {
        using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT definition FROM definitions WHERE name = $name AND version = $version";
        cmd.Parameters.AddWithValue("$name", name);
        cmd.Parameters.AddWithValue("$version", version);
        return (string)cmd.ExecuteScalar()!;
    }
}
