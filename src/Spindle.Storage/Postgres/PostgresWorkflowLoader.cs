using Npgsql;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Postgres;

/// <summary>
/// Reads definitions and whole workflows (row plus activity rows) in one round trip; used by queries and, with a
/// row lock, by write transactions.
/// </summary>
internal static class PostgresWorkflowLoader
{
    /// <summary>How the workflow row is selected and locked.</summary>
    public enum Lock
    {
        None,
        ForUpdate,
        ForUpdateSkipLocked,
    }

    public static Task<WorkflowState?> LoadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, DefinitionCache definitions,
        string workflowId, Lock lockMode, CancellationToken cancellationToken) =>
        LoadAsync(conn, tx, definitions, "$1", workflowId, lockMode, cancellationToken);

    /// <summary>The workflow an activity execution belongs to, locked.</summary>
    public static Task<WorkflowState?> LoadOfActivityAsync(NpgsqlConnection conn, NpgsqlTransaction tx, DefinitionCache definitions,
        string activityId, CancellationToken cancellationToken) =>
        LoadAsync(conn, tx, definitions, "(SELECT workflow_id FROM activity_runs WHERE id = $1)", activityId, Lock.ForUpdate,
            cancellationToken);

    /// <summary>
    /// Both statements go in one batch. Under READ COMMITTED each statement takes its own snapshot when it starts,
    /// and the second starts only after the first holds the row lock, so the activity rows read are those committed
    /// by whoever held the workflow before.
    /// </summary>
    private static async Task<WorkflowState?> LoadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, DefinitionCache definitions,
        string workflowIdExpression, string argument, Lock lockMode, CancellationToken cancellationToken)
    {
        var locking = lockMode switch
        {
            Lock.ForUpdate => " FOR UPDATE",
            Lock.ForUpdateSkipLocked => " FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        await using var batch = new NpgsqlBatch(conn, tx);
        batch.BatchCommands.Add(PgParameters.Statement(
            $"SELECT {RowReader.WorkflowColumns} FROM workflows WHERE id = {workflowIdExpression}{locking}", PgParameters.Text(argument)));
        batch.BatchCommands.Add(PgParameters.Statement(
            $"SELECT {RowReader.ActivityColumns} FROM activity_runs WHERE workflow_id = {workflowIdExpression} AND map_of IS NULL ORDER BY ordinal", // not map items
            PgParameters.Text(argument)));

        WorkflowRow row;
        var activities = new List<ActivityState>();
        await using (var r = await batch.ExecuteReaderAsync(cancellationToken))
        {
            if (!await r.ReadAsync(cancellationToken))
            {
                return null;
            }
            row = PostgresRowReader.Instance.Workflow(r);
            await r.NextResultAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                activities.Add(PostgresRowReader.Instance.Activity(r));
            }
        }

        var definition = await DefinitionAsync(conn, tx, definitions, row.DefinitionName, row.DefinitionVersion, cancellationToken);
        return row.ToState(definition, activities);
    }

    /// <summary>The latest version when <paramref name="version"/> is null; the JSON is fetched only on a cache miss.</summary>
    public static async Task<StoredDefinition?> ReadDefinitionAsync(NpgsqlConnection conn, NpgsqlTransaction? tx,
        DefinitionCache definitions, string name, string? version, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(version is null
            ? "SELECT version, created_at FROM definitions WHERE name = $1 ORDER BY version DESC LIMIT 1"
            : "SELECT version, created_at FROM definitions WHERE name = $1 AND version = $2", conn, tx);
        cmd.Parameters.Add(PgParameters.Text(name));
        if (version is not null)
        {
            cmd.Parameters.Add(PgParameters.Text(version));
        }
        string found;
        long createdAt;
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            if (!await r.ReadAsync(cancellationToken))
            {
                return null;
            }
            found = r.GetString(0);
            createdAt = r.GetInt64(1);
        }
        var definition = await DefinitionAsync(conn, tx, definitions, name, found, cancellationToken);
        return new StoredDefinition(name, found, definition, createdAt);
    }

    private static async Task<WorkflowDefinition> DefinitionAsync(NpgsqlConnection conn, NpgsqlTransaction? tx,
        DefinitionCache definitions, string name, string version, CancellationToken cancellationToken)
    {
        if (definitions.TryGet(name, version, out var cached))
        {
            return cached;
        }
        await using var cmd = new NpgsqlCommand("SELECT definition FROM definitions WHERE name = $1 AND version = $2", conn, tx);
        cmd.Parameters.Add(PgParameters.Text(name));
        cmd.Parameters.Add(PgParameters.Text(version));
        var json = (string)(await cmd.ExecuteScalarAsync(cancellationToken))!;
        return definitions.GetOrAdd(name, version, () => json);
    }
}
