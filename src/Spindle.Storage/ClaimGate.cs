using Spindle.Core.Definitions;

namespace Spindle.Storage;

/// <summary>
/// The decision of a claim that meets activities with a concurrency or rate limit (docs/architecture.md, "Queueing"):
/// given the candidates in claim order, the running rows of their concurrency keys and the token buckets of their rate
/// keys (all read under the keys' locks in the claiming transaction), which to lease, what the buckets hold afterwards
/// and when the first skipped rate-limited activity gets its token. Both backends use it; no I/O.
/// </summary>
internal static class ClaimGate
{
    /// <summary>The claim order of a row: <c>ready_at</c> less <see cref="ActivityQueueing.AgeingSeconds"/> per priority
    /// point, so a higher priority goes first and an activity that waited longer ages past it (µs).</summary>
    public const long MicrosPerPriorityPoint = ActivityQueueing.AgeingSeconds * 1_000_000L;

    /// <summary>The SQL expression of the claim order (the claim indexes are built on it).</summary>
    public const string OrderSql = "(ready_at - priority * 10000000)";

    public static (List<string> Ids, Dictionary<string, RateBucket> Buckets, long? RetryAt) Choose(
        IEnumerable<ClaimCandidate> candidates, IReadOnlyDictionary<string, int> running,
        IReadOnlyDictionary<string, RateBucket> stored, long now, int max)
    {
        var ids = new List<string>();
        var taken = new Dictionary<string, int>(StringComparer.Ordinal);
        var buckets = new Dictionary<string, RateBucket>(StringComparer.Ordinal);
        long? retryAt = null;
        foreach (var c in candidates)
        {
            if (ids.Count == max)
            {
                break;
            }
            var leased = 0;
            if (c.ConcurrencyKey is { } key)
            {
                leased = (running.TryGetValue(key, out var r) ? r : 0) + (taken.TryGetValue(key, out var t) ? t : 0);
                if (leased >= (c.ConcurrencyLimit ?? int.MaxValue))
                {
                    continue; // a slot of its key frees when one of them ends (that commit wakes the polls)
                }
            }
            if (c.RateKey is { } rateKey)
            {
                var rate = c.RatePerSecond ?? 1;
                var burst = c.RateBurst ?? 1;
                if (!buckets.TryGetValue(rateKey, out var bucket))
                {
                    // Refill for the time since the bucket was last written; a new bucket starts full.
                    bucket = stored.TryGetValue(rateKey, out var s)
                        ? new RateBucket(Math.Min(burst, s.Tokens + Math.Max(0, now - s.RefilledAt) * rate / 1_000_000d), now)
                        : new RateBucket(burst, now);
                }
                if (bucket.Tokens < 1)
                {
                    buckets[rateKey] = bucket;
                    var due = now + (long)Math.Ceiling((1 - bucket.Tokens) / rate * 1_000_000d);
                    retryAt = retryAt is { } earlier ? Math.Min(earlier, due) : due;
                    continue;
                }
                buckets[rateKey] = bucket with { Tokens = bucket.Tokens - 1 };
            }
            if (c.ConcurrencyKey is { } k)
            {
                taken[k] = leased - (running.TryGetValue(k, out var r) ? r : 0) + 1;
            }
            ids.Add(c.Id);
        }
        return (ids, buckets, retryAt);
    }
}

/// <summary>A pending row a claim may lease, with its limits (<see cref="ClaimGate"/>).</summary>
internal sealed record ClaimCandidate(string Id, long Order, string? ConcurrencyKey, int? ConcurrencyLimit, string? RateKey,
    double? RatePerSecond, double? RateBurst);

/// <summary>A rate key's bucket: its tokens as of <paramref name="RefilledAt"/> (µs).</summary>
internal sealed record RateBucket(double Tokens, long RefilledAt);
