using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Sqlite;

/// <summary>
/// The claim on SQLite (docs/architecture.md, "Queueing"), inside the writer's transaction. Activities without a
/// concurrency or rate limit are leased by one statement in claim order; when the routing key also has limited
/// activities ready, the claim reads both kinds of candidates in claim order, the running rows of their concurrency
/// keys and their rate buckets, and lets <see cref="ClaimGate"/> choose. SQLite has one writer, so what it reads
/// cannot change before the commit.
/// </summary>
internal static class SqliteClaim
{
    private const string Ready = "worker = $worker AND status = 'pending' AND ready_at <= $now AND " + ClaimGate.OrderSql + " <= $now";
    private const string Plain = " AND concurrency_key IS NULL AND rate_key IS NULL";
    private const string Gated = " AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL)";

    /// <returns>The leased rows and, when a rate-limited activity was skipped, when its bucket has a token again.</returns>
    public static (List<ClaimedActivity> Claimed, long? RetryAt) Run(SqliteWriteTransaction tx, ClaimCommand command, long now)
    {
        var filter = NameFilter(command);
        var probe = Bind(tx.Command("SELECT EXISTS (SELECT 1 FROM activity_runs WHERE " + Ready + Gated + filter + ")"), command, now);
        if (Convert.ToInt64(probe.ExecuteScalar(), CultureInfo.InvariantCulture) == 0)
        {
            // No limited activity is ready: the one statement, as fast as before the feature.
            var cmd = Bind(tx.Command(
                "UPDATE activity_runs SET status = 'running', lease_owner = $owner, lease_until = $now + lease_seconds * 1000000, claimed_at = $now " +
                "WHERE id IN (SELECT id FROM activity_runs WHERE " + Ready + Plain + filter + " ORDER BY " + ClaimGate.OrderSql + " LIMIT $limit) " +
                " RETURNING " + RowReader.ClaimedColumns), command, now);
            ActivityRows.Set(cmd, "$owner", command.WorkerId);
            ActivityRows.Set(cmd, "$limit", command.MaxActivities);
            return (Lease(tx, cmd, command, now), null);
        }

        var scan = command.MaxActivities + 200;
        var candidates = Candidates(tx, command, now, Plain + filter, scan).Concat(Candidates(tx, command, now, Gated + filter, scan))
            .OrderBy(c => c.Order).ToList();
        var keys = Json(candidates.Select(c => c.ConcurrencyKey));
        var running = new Dictionary<string, int>(StringComparer.Ordinal);
        var count = tx.Command("SELECT concurrency_key, count(*) FROM activity_runs WHERE status = 'running' AND concurrency_key IS NOT NULL " +
            "AND concurrency_key IN (SELECT value FROM json_each($keys)) GROUP BY concurrency_key");
        ActivityRows.Set(count, "$keys", keys);
        using (var r = count.ExecuteReader())
        {
            while (r.Read())
            {
                running[r.GetString(0)] = r.GetInt32(1);
            }
        }
        var stored = new Dictionary<string, RateBucket>(StringComparer.Ordinal);
        var read = tx.Command("SELECT key, tokens, refilled_at FROM rate_buckets WHERE key IN (SELECT value FROM json_each($keys))");
        ActivityRows.Set(read, "$keys", Json(candidates.Select(c => c.RateKey)));
        using (var r = read.ExecuteReader())
        {
            while (r.Read())
            {
                stored[r.GetString(0)] = new RateBucket(r.GetDouble(1), r.GetInt64(2));
            }
        }
        var (ids, buckets, retryAt) = ClaimGate.Choose(candidates, running, stored, now, command.MaxActivities);
        foreach (var (key, bucket) in buckets)
        {
            var write = tx.Command("INSERT INTO rate_buckets (key, tokens, refilled_at) VALUES ($key, $tokens, $at) " +
                "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, refilled_at = excluded.refilled_at");
            ActivityRows.Set(write, "$key", key);
            ActivityRows.Set(write, "$tokens", bucket.Tokens);
            ActivityRows.Set(write, "$at", bucket.RefilledAt);
            write.ExecuteNonQuery();
        }
        if (ids.Count == 0)
        {
            return ([], retryAt);
        }
        var lease = tx.Command(
            "UPDATE activity_runs SET status = 'running', lease_owner = $owner, lease_until = $now + lease_seconds * 1000000, claimed_at = $now " +
            "WHERE id IN (SELECT value FROM json_each($ids)) AND status = 'pending' RETURNING " + RowReader.ClaimedColumns);
        ActivityRows.Set(lease, "$owner", command.WorkerId);
        ActivityRows.Set(lease, "$now", now);
        ActivityRows.Set(lease, "$ids", Json(ids));
        return (Lease(tx, lease, command, now), retryAt);
    }

    private static List<ClaimCandidate> Candidates(SqliteWriteTransaction tx, ClaimCommand command, long now, string where, int scan)
    {
        var cmd = Bind(tx.Command("SELECT id, " + ClaimGate.OrderSql + ", concurrency_key, concurrency_limit, rate_key, rate_per_second, rate_burst " +
            "FROM activity_runs WHERE " + Ready + where + " ORDER BY " + ClaimGate.OrderSql + " LIMIT $limit"), command, now);
        ActivityRows.Set(cmd, "$limit", scan);
        var list = new List<ClaimCandidate>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            list.Add(new ClaimCandidate(r.GetString(0), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : r.GetInt32(3),
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetDouble(5), r.IsDBNull(6) ? null : r.GetDouble(6)));
        }
        return list;
    }

    private static List<ClaimedActivity> Lease(SqliteWriteTransaction tx, Microsoft.Data.Sqlite.SqliteCommand cmd, ClaimCommand command, long now)
    {
        var claimed = new List<ClaimedActivity>();
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                claimed.Add(RowReader.Claimed(r, command.RoutingKey));
            }
        }
        foreach (var c in claimed)
        {
            tx.InsertEvents(c.WorkflowId,
                [new WorkflowEvent(EventTypes.ActivityStarted, c.ActivityKey, c.Iteration,
                    new JsonObject { ["worker_id"] = command.WorkerId, ["attempt"] = c.Attempt })], now);
        }
        return claimed;
    }

    private static Microsoft.Data.Sqlite.SqliteCommand Bind(Microsoft.Data.Sqlite.SqliteCommand cmd, ClaimCommand command, long now)
    {
        ActivityRows.Set(cmd, "$now", now);
        ActivityRows.Set(cmd, "$worker", command.RoutingKey);
        for (var i = 0; i < (command.ActivityNames?.Count ?? 0); i++)
        {
            ActivityRows.Set(cmd, "$n" + i.ToString(CultureInfo.InvariantCulture), command.ActivityNames![i]);
        }
        return cmd;
    }

    private static string NameFilter(ClaimCommand command)
    {
        if (command.ActivityNames is not { Count: > 0 } names)
        {
            return "";
        }
        var filter = new StringBuilder(" AND activity_name IN (");
        filter.Append(string.Join(", ", names.Select((_, i) => "$n" + i.ToString(CultureInfo.InvariantCulture))));
        return filter.Append(')').ToString();
    }

    private static string Json(IEnumerable<string?> values) =>
        new JsonArray(values.OfType<string>().Distinct(StringComparer.Ordinal).Select(v => (JsonNode?)v).ToArray()).ToJsonString();
}
