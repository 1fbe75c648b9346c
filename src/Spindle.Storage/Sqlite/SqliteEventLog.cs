using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Spindle.Core.Common;

namespace Spindle.Storage.Sqlite;

/// <summary>
/// The event log of the SQLite file. SQLite has one writer at a time and allocates positions inside the writing
/// transaction, so whatever a reader sees has no uncommitted gap before it: nothing is ever in flight.
/// </summary>
public sealed class SqliteEventLog(string databasePath) : IEventLog
{
    private static readonly IReadOnlySet<ulong> None = new HashSet<ulong>();

    private readonly string _connectionString =
        new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = true, DefaultTimeout = 30, Mode = SqliteOpenMode.ReadOnly }.ToString();

    public async Task<(long Head, IReadOnlySet<ulong> InFlight)> HeadAsync(CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT COALESCE(MAX(seq), 0) FROM events";
        return (Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture), None);
    }

    public Task<bool> AnyInFlightAsync(IReadOnlySet<ulong> writers, CancellationToken cancellationToken) => Task.FromResult(false);

    public async Task<EventTail> ReadAfterAsync(long afterSeq, int limit, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = Select + " WHERE seq > $after ORDER BY seq LIMIT $limit";
        cmd.Parameters.AddWithValue("$after", afterSeq);
        cmd.Parameters.AddWithValue("$limit", limit);
        return new EventTail(await ReadAllAsync(cmd, cancellationToken), None);
    }

    public async Task<long?> SeqOfAsync(string eventId, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT seq FROM events WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", eventId);
        return await cmd.ExecuteScalarAsync(cancellationToken) is { } seq ? Convert.ToInt64(seq, CultureInfo.InvariantCulture) : null;
    }

    public async Task<IReadOnlyList<LoggedEvent>> ReplayAsync(long afterSeq, long upToSeq, IReadOnlySet<string>? workflowIds,
        IReadOnlySet<string>? eventTypes, int limit, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        var sql = new StringBuilder(Select + " WHERE seq > $after AND seq <= $upto");
        cmd.Parameters.AddWithValue("$after", afterSeq);
        cmd.Parameters.AddWithValue("$upto", upToSeq);
        AppendIn(sql, cmd, "workflow_id", "$w", workflowIds);
        AppendIn(sql, cmd, "event_type", "$t", eventTypes);
        sql.Append(" ORDER BY seq LIMIT $limit");
        cmd.Parameters.AddWithValue("$limit", limit);
        cmd.CommandText = sql.ToString();
        return await ReadAllAsync(cmd, cancellationToken);
    }

    private const string Select = "SELECT seq, id, workflow_id, event_type, activity_key, iteration, payload, created_at FROM events";

    private static void AppendIn(StringBuilder sql, SqliteCommand cmd, string column, string prefix, IReadOnlySet<string>? values)
    {
        if (values is not { Count: > 0 })
        {
            return;
        }
        sql.Append(" AND ").Append(column).Append(" IN (");
        var i = 0;
        foreach (var v in values)
        {
            var name = prefix + i.ToString(CultureInfo.InvariantCulture);
            sql.Append(i++ == 0 ? name : ", " + name);
            cmd.Parameters.AddWithValue(name, v);
        }
        sql.Append(')');
    }

    private static async Task<IReadOnlyList<LoggedEvent>> ReadAllAsync(SqliteCommand cmd, CancellationToken cancellationToken)
    {
        var events = new List<LoggedEvent>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            events.Add(new LoggedEvent(r.GetInt64(0), new StoredEvent(r.GetString(1), r.GetString(2), r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetInt32(5),
                JsonLimits.ParseStored(r.GetString(6))!.AsObject(), r.GetInt64(7))));
        }
        return events;
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(cancellationToken);
        return conn;
    }
}
