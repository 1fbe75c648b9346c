using Microsoft.Data.Sqlite;

namespace Spindle.Storage.Sqlite;

/// <summary>
/// Queue depth and worker presence in the SQLite file (presence table from migration 7). Uses its own connections:
/// presence writes are a few small upserts every few seconds, batched, and never inside a workflow transaction.
/// </summary>
public sealed class SqliteQueueStore : IQueueStore
{
    // Each query reads one partial index (status = 'pending' / 'running'), so finished activities are never scanned.
    private const string PendingSql = """
        SELECT worker, SUM(CASE WHEN ready_at <= $now THEN 1 ELSE 0 END), SUM(CASE WHEN ready_at > $now THEN 1 ELSE 0 END),
               MIN(CASE WHEN ready_at <= $now THEN ready_at END), MIN(CASE WHEN ready_at > $now THEN ready_at END)
        FROM activity_runs WHERE status = 'pending' GROUP BY worker
        """;

    private const string RunningSql =
        "SELECT worker, lease_owner, COUNT(*) FROM activity_runs WHERE status = 'running' GROUP BY worker, lease_owner";

    private const string PresenceSql =
        "SELECT routing_key, worker_id, first_seen_at, last_seen_at, slots FROM worker_presence WHERE last_seen_at >= $since " +
        "ORDER BY routing_key, worker_id LIMIT $limit";

    private readonly string _connectionString;

    public SqliteQueueStore(string databasePath)
    {
        PrivateDatabaseFile.Ensure(databasePath);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    public async Task RecordWorkersSeenAsync(IReadOnlyList<WorkerSighting> sightings, long? pruneBefore, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await conn.BeginTransactionAsync(cancellationToken);
        foreach (var s in sightings)
        {
            await using var cmd = conn.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO worker_presence (routing_key, worker_id, first_seen_at, last_seen_at, slots) VALUES ($key, $id, $at, $at, $slots)
                ON CONFLICT (routing_key, worker_id) DO UPDATE SET last_seen_at = MAX(last_seen_at, excluded.last_seen_at), slots = excluded.slots
                """;
            cmd.Parameters.AddWithValue("$key", s.RoutingKey);
            cmd.Parameters.AddWithValue("$id", s.WorkerId);
            cmd.Parameters.AddWithValue("$at", s.SeenAt);
            cmd.Parameters.AddWithValue("$slots", s.Slots);
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
        if (pruneBefore is { } before)
        {
            await using var cmd = conn.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM worker_presence WHERE last_seen_at < $before";
            cmd.Parameters.AddWithValue("$before", before);
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<QueueSnapshot>> GetQueuesAsync(long now, long seenSince, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        var pending = new Dictionary<string, (int Ready, int Delayed, long? Oldest, long? Next)>(StringComparer.Ordinal);
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = PendingSql;
            cmd.Parameters.AddWithValue("$now", now);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                pending[r.GetString(0)] = (r.GetInt32(1), r.GetInt32(2), r.IsDBNull(3) ? null : r.GetInt64(3), r.IsDBNull(4) ? null : r.GetInt64(4));
            }
        }
        var running = new List<(string Key, string? Owner, int Count)>();
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = RunningSql;
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                running.Add((r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetInt32(2)));
            }
        }
        var presence = new List<(string Key, string WorkerId, long First, long Last, int Slots)>();
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = PresenceSql;
            cmd.Parameters.AddWithValue("$since", seenSince);
            cmd.Parameters.AddWithValue("$limit", QueueSnapshots.MaxWorkers);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                presence.Add((r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt32(4)));
            }
        }
        return QueueSnapshots.Merge(pending, running, presence);
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(cancellationToken);
        return conn;
    }
}
