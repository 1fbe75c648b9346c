using System.Text.Json.Nodes;
using Npgsql;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Postgres;

/// <summary>
/// The claim on PostgreSQL (docs/architecture.md, "Queueing"). Activities without a concurrency or rate limit are
/// leased by one statement in claim order, which claims nothing while the routing key has limited activities ready;
/// then one READ COMMITTED transaction reads both kinds of candidates, takes the transaction-scoped advisory lock of
/// each concurrency key (sorted, so two claimers never wait on each other in a cycle) and the row lock of each rate
/// bucket, counts the running rows of those keys in a statement that starts after the locks are held (so it sees
/// every claim committed before), lets <see cref="ClaimGate"/> choose and leases the chosen rows. A claim of a key
/// waits only for another claim of the same key; the plain statement never takes these locks.
/// </summary>
internal static class PostgresClaim
{
    /// <summary>The claim order (the claim indexes of migration 12 are built on this expression).</summary>
    public const string OrderSql = "(ready_at - priority * 10000000::bigint)";

    private const string Ready = "worker = $3 AND status = 'pending' AND ready_at <= $2 AND " + OrderSql + " <= $2";
    private const string PlainSql = " AND concurrency_key IS NULL AND rate_key IS NULL";
    private const string GatedSql = " AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL)";

    /// <summary>
    /// One statement claims up to $4 rows without limits and records their ActivityStarted events; it walks the
    /// partial claim index in claim order and skips rows another poller (or a cancel) holds. {0} is the optional
    /// activity_name filter. It claims nothing when a limited activity of the routing key is ready (an InitPlan,
    /// evaluated once): those go through <see cref="GatedAsync"/>, so that both kinds are taken in one order.
    /// </summary>
    private const string PlainClaimSql =
        "WITH claimed AS (" +
        " UPDATE activity_runs SET status = 'running', lease_owner = $1, lease_until = $2 + lease_seconds::bigint * 1000000, claimed_at = $2" +
        " WHERE id IN (SELECT id FROM activity_runs WHERE " + Ready + PlainSql + "{0}" +
        " AND NOT EXISTS (SELECT 1 FROM activity_runs WHERE " + Ready + GatedSql + "{0})" +
        " ORDER BY " + OrderSql + " LIMIT $4 FOR UPDATE SKIP LOCKED)" +
        " RETURNING " + RowReader.ClaimedColumns + ", " + OrderSql + " AS claim_order, ready_at), " +
        Started + "SELECT " + RowReader.ClaimedColumns + " FROM claimed ORDER BY claim_order";

    private const string Started =
        "started AS (" +
        " INSERT INTO events (id, workflow_id, event_type, activity_key, iteration, payload, created_at)" +
        " SELECT spindle_uuid_v7(), workflow_id, 'ActivityStarted', activity_key, iteration," +
        " json_build_object('worker_id', $1::text, 'attempt', attempt), $2 FROM claimed ORDER BY claim_order) ";

    /// <summary>Leases the rows <see cref="ClaimGate"/> chose ($3), if still pending, with their events.</summary>
    private const string LeaseChosenSql =
        "WITH claimed AS (" +
        " UPDATE activity_runs SET status = 'running', lease_owner = $1, lease_until = $2 + lease_seconds::bigint * 1000000, claimed_at = $2" +
        " WHERE id = ANY($3) AND status = 'pending'" +
        " RETURNING " + RowReader.ClaimedColumns + ", " + OrderSql + " AS claim_order), " +
        Started + "SELECT " + RowReader.ClaimedColumns + " FROM claimed ORDER BY claim_order";

    private const string GatedProbeSql = "SELECT EXISTS (SELECT 1 FROM activity_runs WHERE " + Ready + GatedSql + "{0})";

    private const string CandidatesSql =
        "SELECT id, " + OrderSql + ", concurrency_key, concurrency_limit, rate_key, rate_per_second, rate_burst FROM activity_runs " +
        "WHERE " + Ready + "{1}{0} ORDER BY " + OrderSql + " LIMIT $4";

    public static string PlainClaim(bool named) => PlainClaimSql.Replace("{0}", named ? " AND activity_name = ANY($5)" : "", StringComparison.Ordinal);

    /// <returns>The leased rows and, when a rate-limited activity was skipped, when its bucket has a token again.</returns>
    public static async Task<(List<ClaimedActivity> Claimed, long? RetryAt)> RunAsync(NpgsqlDataSource dataSource, ClaimCommand command, long now,
        CancellationToken cancellationToken)
    {
        var named = command.ActivityNames is { Count: > 0 };
        await using (var plain = dataSource.CreateCommand(PlainClaim(named)))
        {
            AddClaimParameters(plain, command, now, command.MaxActivities);
            var claimed = await ReadClaimedAsync(plain, command, cancellationToken);
            if (claimed.Count > 0)
            {
                return (claimed, null);
            }
        }
        // Nothing plain was claimed: either nothing is ready, or limited activities are (then the plain statement held back).
        await using (var probe = dataSource.CreateCommand(GatedProbeSql.Replace("{0}", named ? " AND activity_name = ANY($5)" : "", StringComparison.Ordinal)))
        {
            AddClaimParameters(probe, command, now, command.MaxActivities);
            if (await probe.ExecuteScalarAsync(cancellationToken) is not true)
            {
                return ([], null);
            }
        }
        return await GatedAsync(dataSource, command, now, cancellationToken);
    }

    private static async Task<(List<ClaimedActivity>, long?)> GatedAsync(NpgsqlDataSource dataSource, ClaimCommand command, long now,
        CancellationToken cancellationToken)
    {
        var named = command.ActivityNames is { Count: > 0 };
        await using var conn = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        var scan = command.MaxActivities + 200;
        var candidates = new List<ClaimCandidate>();
        foreach (var kind in new[] { PlainSql, GatedSql })
        {
            await using var cmd = new NpgsqlCommand(CandidatesSql.Replace("{1}", kind, StringComparison.Ordinal)
                .Replace("{0}", named ? " AND activity_name = ANY($5)" : "", StringComparison.Ordinal), conn, tx);
            AddClaimParameters(cmd, command, now, scan);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                candidates.Add(new ClaimCandidate(r.GetString(0), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : r.GetInt32(3),
                    r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetDouble(5), r.IsDBNull(6) ? null : r.GetDouble(6)));
            }
        }
        candidates.Sort((a, b) => a.Order.CompareTo(b.Order));
        var concurrencyKeys = candidates.Select(c => c.ConcurrencyKey).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var running = new Dictionary<string, int>(StringComparer.Ordinal);
        if (concurrencyKeys.Length > 0)
        {
            await using (var lockKeys = new NpgsqlCommand(
                "SELECT count(pg_advisory_xact_lock(hashtextextended('spindle.concurrency:' || k, 0))) FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k COLLATE \"C\") s",
                conn, tx))
            {
                lockKeys.Parameters.Add(PgParameters.TextArray(concurrencyKeys));
                await lockKeys.ExecuteScalarAsync(cancellationToken);
            }
            // A statement of its own, so that its snapshot is taken after the locks are held.
            await using var count = new NpgsqlCommand("SELECT concurrency_key, count(*)::integer FROM activity_runs " +
                "WHERE status = 'running' AND concurrency_key IS NOT NULL AND concurrency_key = ANY($1) GROUP BY concurrency_key", conn, tx);
            count.Parameters.Add(PgParameters.TextArray(concurrencyKeys));
            await using var r = await count.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                running[r.GetString(0)] = r.GetInt32(1);
            }
        }
        var rateKeys = candidates.Where(c => c.RateKey is not null).GroupBy(c => c.RateKey!, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        var stored = new Dictionary<string, RateBucket>(StringComparer.Ordinal);
        if (rateKeys.Count > 0)
        {
            await using (var ensure = new NpgsqlCommand("INSERT INTO rate_buckets (key, tokens, refilled_at) " +
                "SELECT k, b, $3 FROM unnest($1::text[], $2::float8[]) AS t(k, b) ON CONFLICT (key) DO NOTHING", conn, tx))
            {
                ensure.Parameters.Add(PgParameters.TextArray(rateKeys.Select(g => g.Key).ToArray()));
                ensure.Parameters.Add(PgParameters.DoubleArray(rateKeys.Select(g => g.First().RateBurst).ToArray()));
                ensure.Parameters.Add(PgParameters.Bigint(now));
                await ensure.ExecuteNonQueryAsync(cancellationToken);
            }
            await using var read = new NpgsqlCommand("SELECT key, tokens, refilled_at FROM rate_buckets WHERE key = ANY($1) ORDER BY key COLLATE \"C\" FOR UPDATE",
                conn, tx);
            read.Parameters.Add(PgParameters.TextArray(rateKeys.Select(g => g.Key).ToArray()));
            await using var r = await read.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                stored[r.GetString(0)] = new RateBucket(r.GetDouble(1), r.GetInt64(2));
            }
        }
        var (ids, buckets, retryAt) = ClaimGate.Choose(candidates, running, stored, now, command.MaxActivities);
        if (buckets.Count > 0)
        {
            await using var write = new NpgsqlCommand("UPDATE rate_buckets SET tokens = t.tokens, refilled_at = t.at " +
                "FROM unnest($1::text[], $2::float8[], $3::bigint[]) AS t(k, tokens, at) WHERE key = t.k", conn, tx);
            write.Parameters.Add(PgParameters.TextArray(buckets.Keys.ToArray()));
            write.Parameters.Add(PgParameters.DoubleArray(buckets.Values.Select(b => (double?)b.Tokens).ToArray()));
            write.Parameters.Add(PgParameters.BigintArray(buckets.Values.Select(b => (long?)b.RefilledAt).ToArray()));
            await write.ExecuteNonQueryAsync(cancellationToken);
        }
        List<ClaimedActivity> claimed = [];
        if (ids.Count > 0)
        {
            await using var lease = new NpgsqlCommand(LeaseChosenSql, conn, tx);
            lease.Parameters.Add(PgParameters.Text(command.WorkerId));
            lease.Parameters.Add(PgParameters.Bigint(now));
            lease.Parameters.Add(PgParameters.TextArray(ids.ToArray()));
            claimed = await ReadClaimedAsync(lease, command, cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
        return (claimed, retryAt);
    }

    private static void AddClaimParameters(NpgsqlCommand cmd, ClaimCommand command, long now, int limit)
    {
        cmd.Parameters.Add(PgParameters.Text(command.WorkerId));
        cmd.Parameters.Add(PgParameters.Bigint(now));
        cmd.Parameters.Add(PgParameters.Text(command.RoutingKey));
        cmd.Parameters.Add(PgParameters.Integer(limit));
        if (command.ActivityNames is { Count: > 0 } names)
        {
            cmd.Parameters.Add(PgParameters.TextArray(names.ToArray()));
        }
    }

    private static async Task<List<ClaimedActivity>> ReadClaimedAsync(NpgsqlCommand cmd, ClaimCommand command, CancellationToken cancellationToken)
    {
        var claimed = new List<ClaimedActivity>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            claimed.Add(RowReader.Claimed(r, command.RoutingKey));
        }
        return claimed;
    }
}
