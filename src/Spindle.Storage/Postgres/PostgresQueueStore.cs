using Npgsql;

namespace Spindle.Storage.Postgres;

/// <summary>
/// Queue depth and worker presence in PostgreSQL (presence table from migration 8), shared by every server of a
/// cluster: each server records the workers that poll it, and any server answers for all of them.
/// </summary>
public sealed class PostgresQueueStore(NpgsqlDataSource dataSource) : IQueueStore
{
    // Each query reads one partial index (status = 'pending' / 'running'), so finished activities are never scanned.
    private const string PendingSql = """
        SELECT worker, COUNT(*) FILTER (WHERE ready_at <= $1), COUNT(*) FILTER (WHERE ready_at > $1),
               MIN(ready_at) FILTER (WHERE ready_at <= $1), MIN(ready_at) FILTER (WHERE ready_at > $1)
        FROM activity_runs WHERE status = 'pending' GROUP BY worker
        """;

    private const string RunningSql =
        "SELECT worker, lease_owner, COUNT(*) FROM activity_runs WHERE status = 'running' GROUP BY worker, lease_owner";

    private const string PresenceSql =
        "SELECT routing_key, worker_id, first_seen_at, last_seen_at, slots FROM worker_presence WHERE last_seen_at >= $1 " +
        "ORDER BY routing_key, worker_id LIMIT $2";

    public async Task RecordWorkersSeenAsync(IReadOnlyList<WorkerSighting> sightings, long? pruneBefore, CancellationToken cancellationToken)
    {
        await using var conn = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(conn);
        // Sorted, so that two servers upserting overlapping sets take the row locks in the same order.
        foreach (var s in sightings.OrderBy(s => s.RoutingKey, StringComparer.Ordinal).ThenBy(s => s.WorkerId, StringComparer.Ordinal).ThenBy(s => s.SeenAt))
        {
            var cmd = new NpgsqlBatchCommand("""
                INSERT INTO worker_presence (routing_key, worker_id, first_seen_at, last_seen_at, slots) VALUES ($1, $2, $3, $3, $4)
                ON CONFLICT (routing_key, worker_id) DO UPDATE
                SET last_seen_at = GREATEST(worker_presence.last_seen_at, excluded.last_seen_at), slots = excluded.slots
                """);
            cmd.Parameters.Add(PgParameters.Text(s.RoutingKey));
            cmd.Parameters.Add(PgParameters.Text(s.WorkerId));
            cmd.Parameters.Add(PgParameters.Bigint(s.SeenAt));
            cmd.Parameters.Add(PgParameters.Integer(s.Slots));
            batch.BatchCommands.Add(cmd);
        }
        if (pruneBefore is { } before)
        {
            var prune = new NpgsqlBatchCommand("DELETE FROM worker_presence WHERE last_seen_at < $1");
            prune.Parameters.Add(PgParameters.Bigint(before));
            batch.BatchCommands.Add(prune);
        }
        if (batch.BatchCommands.Count > 0)
        {
            // One round trip; a batch runs as one implicit transaction.
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    public async Task<IReadOnlyList<QueueSnapshot>> GetQueuesAsync(long now, long seenSince, CancellationToken cancellationToken)
    {
        await using var conn = await dataSource.OpenConnectionAsync(cancellationToken);
        var pending = new Dictionary<string, (int Ready, int Delayed, long? Oldest, long? Next)>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand(PendingSql, conn))
        {
            cmd.Parameters.Add(PgParameters.Bigint(now));
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                pending[r.GetString(0)] = ((int)r.GetInt64(1), (int)r.GetInt64(2), r.IsDBNull(3) ? null : r.GetInt64(3), r.IsDBNull(4) ? null : r.GetInt64(4));
            }
        }
        var running = new List<(string Key, string? Owner, int Count)>();
        await using (var cmd = new NpgsqlCommand(RunningSql, conn))
        {
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                running.Add((r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), (int)r.GetInt64(2)));
            }
        }
        var presence = new List<(string Key, string WorkerId, long First, long Last, int Slots)>();
        await using (var cmd = new NpgsqlCommand(PresenceSql, conn))
        {
            cmd.Parameters.Add(PgParameters.Bigint(seenSince));
            cmd.Parameters.Add(PgParameters.Integer(QueueSnapshots.MaxWorkers));
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                presence.Add((r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt32(4)));
            }
        }
        return QueueSnapshots.Merge(pending, running, presence);
    }
}
