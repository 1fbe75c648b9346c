using System.Data;
using System.Globalization;
using System.Text;
using Npgsql;
using Spindle.Core.Common;

namespace Spindle.Storage.Postgres;

/// <summary>
/// The event log in PostgreSQL. Positions come from an identity column, allocated before commit, so concurrent
/// writers can commit out of position order; each read therefore also reports the transaction ids in flight at its
/// snapshot (<c>pg_current_snapshot()</c>), which lets the reader tell a gap that may still fill from one that never will.
/// </summary>
public sealed class PostgresEventLog(NpgsqlDataSource dataSource) : IEventLog
{
    private const string Select = "SELECT seq, id, workflow_id, event_type, activity_key, iteration, payload, created_at FROM events";

    public async Task<(long Head, IReadOnlySet<ulong> InFlight)> HeadAsync(CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("SELECT pg_current_snapshot()::text, COALESCE((SELECT MAX(seq) FROM events), 0)");
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        await r.ReadAsync(cancellationToken);
        return (r.GetInt64(1), InProgress(r.GetString(0)));
    }

    public async Task<bool> AnyInFlightAsync(IReadOnlySet<ulong> writers, CancellationToken cancellationToken)
    {
        if (writers.Count == 0)
        {
            return false;
        }
        await using var cmd = dataSource.CreateCommand("SELECT pg_current_snapshot()::text");
        var now = InProgress((string)(await cmd.ExecuteScalarAsync(cancellationToken))!);
        return writers.Overlaps(now);
    }

    public async Task<EventTail> ReadAfterAsync(long afterSeq, int limit, CancellationToken cancellationToken)
    {
        // One snapshot for both statements: the in-flight set describes exactly the rows the read could not see.
        await using var conn = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        await using var batch = new NpgsqlBatch(conn, tx);
        batch.BatchCommands.Add(PgParameters.Statement("SELECT pg_current_snapshot()::text"));
        batch.BatchCommands.Add(PgParameters.Statement(Select + " WHERE seq > $1 ORDER BY seq LIMIT $2",
            PgParameters.Bigint(afterSeq), PgParameters.Integer(limit)));
        await using var r = await batch.ExecuteReaderAsync(cancellationToken);
        await r.ReadAsync(cancellationToken);
        var inFlight = InProgress(r.GetString(0));
        await r.NextResultAsync(cancellationToken);
        var events = await ReadAllAsync(r, cancellationToken);
        await r.CloseAsync();
        await tx.CommitAsync(cancellationToken);
        return new EventTail(events, inFlight);
    }

    public async Task<long?> SeqOfAsync(string eventId, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("SELECT seq FROM events WHERE id = $1");
        cmd.Parameters.Add(PgParameters.Text(eventId));
        return await cmd.ExecuteScalarAsync(cancellationToken) is long seq ? seq : null;
    }

    public async Task<IReadOnlyList<LoggedEvent>> ReplayAsync(long afterSeq, long upToSeq, IReadOnlySet<string>? workflowIds,
        IReadOnlySet<string>? eventTypes, int limit, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand();
        var sql = new StringBuilder(Select + " WHERE seq > $1 AND seq <= $2");
        cmd.Parameters.Add(PgParameters.Bigint(afterSeq));
        cmd.Parameters.Add(PgParameters.Bigint(upToSeq));
        if (workflowIds is { Count: > 0 })
        {
            cmd.Parameters.Add(PgParameters.TextArray(workflowIds.ToArray()));
            sql.Append(CultureInfo.InvariantCulture, $" AND workflow_id = ANY(${cmd.Parameters.Count})");
        }
        if (eventTypes is { Count: > 0 })
        {
            cmd.Parameters.Add(PgParameters.TextArray(eventTypes.ToArray()));
            sql.Append(CultureInfo.InvariantCulture, $" AND event_type = ANY(${cmd.Parameters.Count})");
        }
        cmd.Parameters.Add(PgParameters.Integer(limit));
        sql.Append(CultureInfo.InvariantCulture, $" ORDER BY seq LIMIT ${cmd.Parameters.Count}");
        cmd.CommandText = sql.ToString();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        return await ReadAllAsync(r, cancellationToken);
    }

    /// <summary>The in-progress transaction ids of a snapshot's text form <c>xmin:xmax:xip,xip,…</c>.</summary>
    internal static IReadOnlySet<ulong> InProgress(string snapshot)
    {
        var set = new HashSet<ulong>();
        var xip = snapshot.Split(':')[2];
        foreach (var id in xip.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            set.Add(ulong.Parse(id, CultureInfo.InvariantCulture));
        }
        return set;
    }

    private static async Task<IReadOnlyList<LoggedEvent>> ReadAllAsync(NpgsqlDataReader r, CancellationToken cancellationToken)
    {
        var events = new List<LoggedEvent>();
        while (await r.ReadAsync(cancellationToken))
        {
            events.Add(new LoggedEvent(r.GetInt64(0), new StoredEvent(r.GetString(1), r.GetString(2), r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetInt32(5),
                JsonLimits.ParseStored(r.GetString(6))!.AsObject(), r.GetInt64(7))));
        }
        return events;
    }
}
