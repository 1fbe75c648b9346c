using System.Data;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Npgsql;

namespace Spindle.Worker.Std;

/// <summary>
/// <c>postgres_query</c> and <c>postgres_transaction</c>. <c>db_url</c> (also <c>connection_string</c>,
/// <c>connection</c>) is a libpq URL (<c>postgres://user:password@host:port/database?sslmode=require</c>) or an Npgsql
/// connection string. Values in <c>params</c> are bound as <c>$1..$n</c>, never interpolated. A failing statement fails the activity with <c>DATABASE_ERROR</c> (the database's SQLSTATE
/// and message), retryable only for connection and other transient errors.
/// </summary>
public sealed class PostgresActivities
{
    private readonly PostgresDataSourceCache _dataSources;

    public PostgresActivities(PostgresDataSourceCache dataSources)
    {
        ArgumentNullException.ThrowIfNull(dataSources);
        _dataSources = dataSources;
    }

    /// <summary>
    /// <c>postgres_query</c>: <c>{db_url, query, params?, timeout_seconds?}</c> → <c>{"result": {"rows": [...],
    /// "row_count": n}}</c> for statements that return rows (SELECT, DML with RETURNING), else
    /// <c>{"result": {"rows_affected": n}}</c>.
    /// </summary>
    public async Task<ActivityResult> QueryAsync(ActivityContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        JsonObject parameters = context.Parameters;
        string connectionString = ReadConnectionString(parameters);
        Statement statement = ReadStatement(parameters, "");
        int commandTimeout = ReadCommandTimeout(parameters);

        try
        {
            await using PostgresDataSourceCache.PooledConnection pooled = await _dataSources.OpenConnectionAsync(connectionString, cancellationToken).ConfigureAwait(false);
            JsonObject result = await ExecuteAsync(pooled.Connection, null, statement, commandTimeout, cancellationToken).ConfigureAwait(false);
            return new ActivityResult(new JsonObject { ["result"] = result });
        }
        catch (Exception ex) when (ToFailure(ex, null, cancellationToken.IsCancellationRequested) is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>
    /// <c>postgres_transaction</c>: <c>{db_url, statements: [{query, params?}], isolation_level?}</c> →
    /// <c>{"result": {"success": true, "statements_executed": n, "results": [one postgres_query result per statement]}}</c>;
    /// all statements run in one transaction, rolled back on any failure (which fails the activity).
    /// </summary>
    public async Task<ActivityResult> TransactionAsync(ActivityContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        JsonObject parameters = context.Parameters;
        string connectionString = ReadConnectionString(parameters);
        JsonArray items = StdParameters.OptionalArray(parameters, "statements")
            ?? throw StdParameters.Invalid("parameter 'statements' is required and must be an array");
        if (items.Count == 0)
        {
            throw StdParameters.Invalid("parameter 'statements' must not be empty");
        }

        var statements = new List<Statement>(items.Count);
        for (int i = 0; i < items.Count; i++)
        {
            JsonObject item = items[i] as JsonObject
                ?? throw StdParameters.Invalid($"statements[{i}] must be an object with 'query' and optional 'params'");
            statements.Add(ReadStatement(item, $"statements[{i}]."));
        }

        IsolationLevel isolation = ReadIsolationLevel(parameters);
        int commandTimeout = ReadCommandTimeout(parameters);
        int current = -1;
        try
        {
            await using PostgresDataSourceCache.PooledConnection pooled = await _dataSources.OpenConnectionAsync(connectionString, cancellationToken).ConfigureAwait(false);
            await using NpgsqlTransaction transaction = await pooled.Connection.BeginTransactionAsync(isolation, cancellationToken).ConfigureAwait(false);
            var results = new JsonArray();
            try
            {
                for (current = 0; current < statements.Count; current++)
                {
                    results.Add(await ExecuteAsync(pooled.Connection, transaction, statements[current], commandTimeout, cancellationToken).ConfigureAwait(false));
                }

                current = -1;
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await RollbackQuietlyAsync(transaction).ConfigureAwait(false);
                throw;
            }

            return new ActivityResult(new JsonObject
            {
                ["result"] = new JsonObject
                {
                    ["success"] = true,
                    ["statements_executed"] = statements.Count,
                    ["results"] = results,
                },
            });
        }
        catch (Exception ex) when (ToFailure(ex, current >= 0 ? $"statement {current + 1} of {statements.Count}" : null, cancellationToken.IsCancellationRequested) is { } failure)
        {
            throw failure;
        }
    }

    private static async Task<JsonObject> ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Statement statement, int commandTimeout, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(statement.Query, connection, transaction) { CommandTimeout = commandTimeout };
        foreach (JsonNode? value in statement.Parameters)
        {
            command.Parameters.Add(PostgresJson.ToParameter(value));
        }

        await using NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new JsonArray();
        bool returnedRows = false;
        do
        {
            if (reader.FieldCount == 0)
            {
                continue;
            }

            returnedRows = true;
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var row = new JsonObject();
                for (int i = 0; i < reader.FieldCount; i++)
                {
                    row[reader.GetName(i)] = PostgresJson.ReadColumn(reader, i);
                }

                rows.Add(row);
            }
        }
        while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));

        return returnedRows
            ? new JsonObject { ["rows"] = rows, ["row_count"] = rows.Count }
            : new JsonObject { ["rows_affected"] = Math.Max(0, reader.RecordsAffected) };
    }

    private static async Task RollbackQuietlyAsync(NpgsqlTransaction transaction)
    {
        try
        {
            if (transaction.Connection is not null)
            {
                await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or ObjectDisposedException)
        {
            // The connection is broken: the server rolls the transaction back when the session ends.
        }
    }

    private static ActivityFailureException? ToFailure(Exception ex, string? where, bool cancelled)
    {
        if (ex is ActivityFailureException || (ex is OperationCanceledException && cancelled))
        {
            return null;
        }

        string prefix = where is null ? "" : where + ": ";
        return ex switch
        {
            PostgresException pg => new ActivityFailureException(ErrorCodes.DatabaseError, prefix + Describe(pg), pg.IsTransient, pg),
            NpgsqlException npgsql => new ActivityFailureException(ErrorCodes.DatabaseError, prefix + npgsql.Message + (npgsql.InnerException is { } inner ? $" ({inner.Message})" : ""), npgsql.IsTransient, npgsql),
            SocketException or IOException or TimeoutException => new ActivityFailureException(ErrorCodes.DatabaseError, prefix + ex.Message, retryable: true, ex),
            ArgumentException or FormatException => new ActivityFailureException(ErrorCodes.InvalidParameters, prefix + ex.Message, retryable: false, ex),
            InvalidCastException or NotSupportedException => new ActivityFailureException(ErrorCodes.DatabaseError, prefix + ex.Message, retryable: false, ex),
            _ => null,
        };
    }

    private static string Describe(PostgresException pg)
    {
        string text = $"{pg.SqlState}: {pg.MessageText}";
        if (!string.IsNullOrEmpty(pg.Detail))
        {
            text += $" DETAIL: {pg.Detail}";
        }

        if (!string.IsNullOrEmpty(pg.Hint))
        {
            text += $" HINT: {pg.Hint}";
        }

        if (pg.Position > 0)
        {
            text += $" (at character {pg.Position})";
        }

        return text;
    }

    private static string ReadConnectionString(JsonObject parameters) =>
        StdParameters.FirstString(parameters, "db_url", "connection_string", "connection") is { Length: > 0 } address
            ? address
            : throw StdParameters.Invalid("parameter 'db_url' (also 'connection_string' or 'connection') is required: a postgres:// URL or an Npgsql connection string, usually \"{{SECRET.db_url}}\"");

    private static Statement ReadStatement(JsonObject source, string prefix)
    {
        string query = StdParameters.OptionalString(source, "query") is { } q && !string.IsNullOrWhiteSpace(q)
            ? q
            : throw StdParameters.Invalid($"parameter '{prefix}query' is required and must be a non-empty string");
        JsonArray values = source["params"] switch
        {
            null => [],
            JsonArray array => array,
            JsonNode other => throw StdParameters.Invalid($"parameter '{prefix}params' must be an array of positional values, got {other.GetValueKind()}"),
        };
        return new Statement(query, values);
    }

    private static int ReadCommandTimeout(JsonObject parameters) =>
        StdParameters.OptionalPositiveNumber(parameters, "timeout_seconds") is { } seconds
            ? (int)Math.Min(int.MaxValue, Math.Ceiling(seconds))
            : 0; // no statement timeout of its own: the activity's execution timeout cancels it

    private static IsolationLevel ReadIsolationLevel(JsonObject parameters) =>
        StdParameters.OptionalString(parameters, "isolation_level")?.Trim().ToLowerInvariant().Replace(' ', '_') switch
        {
            null or "read_committed" => IsolationLevel.ReadCommitted,
            "repeatable_read" => IsolationLevel.RepeatableRead,
            "serializable" => IsolationLevel.Serializable,
            "read_uncommitted" => IsolationLevel.ReadUncommitted,
            var other => throw StdParameters.Invalid($"parameter 'isolation_level' must be read_committed, repeatable_read or serializable, got '{other}'"),
        };

    private sealed record Statement(string Query, JsonArray Parameters);
}
