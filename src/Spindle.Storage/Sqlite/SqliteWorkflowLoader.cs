using Microsoft.Data.Sqlite;
using Spindle.Core.Orchestration;
using Spindle.Storage.Rows;

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
        WorkflowRow row;
        using (var cmd = conn.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT {RowReader.WorkflowColumns} FROM workflows WHERE id = $id";
            cmd.Parameters.AddWithValue("$id", workflowId);
            using var r = cmd.ExecuteReader();
            if (!r.Read())
            {
                return null;
            }
            row = SqliteRowReader.Instance.Workflow(r);
        }
        var activities = new List<ActivityState>();
        using (var cmd = conn.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = $"SELECT {RowReader.ActivityColumns} FROM activity_runs WHERE workflow_id = $id AND map_of IS NULL ORDER BY ordinal"; // not map items
            cmd.Parameters.AddWithValue("$id", workflowId);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                activities.Add(SqliteRowReader.Instance.Activity(r));
            }
        }
        var definition = definitions.GetOrAdd(row.DefinitionName, row.DefinitionVersion,
            () => DefinitionJson(conn, tx, row.DefinitionName, row.DefinitionVersion));
        return row.ToState(definition, activities);
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
