using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

/// <summary>
/// How an activity waits in the queue (docs/workflow-format.md, "Concurrency, rate limits and priority"): at most
/// <see cref="Concurrency"/>'s limit leased at once per rendered key, one token of <see cref="RateLimit"/>'s bucket
/// per claim, and its <see cref="Priority"/> in the claim order. The claim statement enforces all three.
/// </summary>
public sealed record ActivityQueueing(ConcurrencyLimit? Concurrency, RateLimit? RateLimit, int? Priority)
{
    /// <summary>Lowest and highest <c>priority</c>: non-negative, so that the claim's ordered index scan can stop at now.</summary>
    public const int MinPriority = 0;

    public const int MaxPriority = 1000;

    /// <summary>Highest <c>concurrency.limit</c>.</summary>
    public const int MaxConcurrencyLimit = 100_000;

    /// <summary>Highest <c>rate_limit.per_second</c> and <c>burst</c>.</summary>
    public const double MaxRate = 1_000_000;

    /// <summary>Ageing: an activity's effective priority grows by 1 for every this many seconds it has been ready.</summary>
    public const int AgeingSeconds = 10;

    /// <summary>The fields of the normalised activity this reads (null when none is given).</summary>
    internal static ActivityQueueing? From(JsonObject activity)
    {
        ConcurrencyLimit? concurrency = activity["concurrency"] is JsonObject c ? ConcurrencyFrom(c) : null;
        RateLimit? rate = activity["rate_limit"] is JsonObject r
            ? new RateLimit((string)r["key"]!, Real(r["per_second"]), Real(r["burst"]))
            : null;
        int? priority = activity["priority"] is { } p ? (int)Whole(p) : null;
        return concurrency is null && rate is null && priority is null ? null : new ActivityQueueing(concurrency, rate, priority);
    }

    /// <summary>A normalised <c>{key, limit}</c> (an activity's or a workflow's <c>concurrency</c>).</summary>
    internal static ConcurrencyLimit ConcurrencyFrom(JsonObject c) => new((string)c["key"]!, (int)Whole(c["limit"]));

    private static long Whole(JsonNode? node) => JsonUtil.TryGetInteger(node, out var v) ? v : 0;

    private static double Real(JsonNode? node) => JsonUtil.TryGetDouble(node, out var v) ? v : 0;
}

/// <summary>At most <paramref name="Limit"/> activities with the same rendered <paramref name="Key"/> (a template) leased at once.</summary>
public sealed record ConcurrencyLimit(string Key, int Limit);

/// <summary>A token bucket per rendered <paramref name="Key"/>: <paramref name="PerSecond"/> tokens a second, at most
/// <paramref name="Burst"/> saved up; each claim takes one.</summary>
public sealed record RateLimit(string Key, double PerSecond, double Burst);
