using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

// An activity's queueing fields: concurrency, rate_limit and priority (ActivityQueueing).
internal sealed partial class DefinitionNormalizer
{
    private static readonly HashSet<string> ConcurrencyKeys = ["key", "limit"];
    private static readonly HashSet<string> RateLimitKeys = ["key", "per_second", "burst"];

    /// <summary>Reads <c>concurrency</c>, <c>rate_limit</c> and <c>priority</c> of an activity into their normalised
    /// form (added to the normalised activity as they are); null when none is given.</summary>
    private JsonObject? Queueing(JsonObject obj, string path)
    {
        var result = new JsonObject();
        if (obj["concurrency"] is { } concurrency)
        {
            var p = path + ".concurrency";
            if (concurrency is not JsonObject c)
            {
                Error(p, $"'concurrency' must be a mapping {{key: \"{{{{INPUT.customer_id}}}}\", limit: 2}}, got {JsonUtil.Describe(concurrency)}.");
            }
            else
            {
                WarnUnknown(c, p, ConcurrencyKeys);
                var key = QueueKey(c["key"], p + ".key");
                var limit = Integer(c["limit"], p + ".limit", 1);
                if (c["limit"] is null)
                {
                    Error(p + ".limit", "'limit' is required: how many activities with the same key may run at once, e.g. limit: 2.");
                }
                else if (limit > ActivityQueueing.MaxConcurrencyLimit)
                {
                    Error(p + ".limit", $"'limit' must be at most {ActivityQueueing.MaxConcurrencyLimit}, got {limit}.");
                    limit = null;
                }
                if (key is not null && limit is not null)
                {
                    result["concurrency"] = new JsonObject { ["key"] = key, ["limit"] = limit };
                }
            }
        }
        if (obj["rate_limit"] is { } rateLimit)
        {
            var p = path + ".rate_limit";
            if (rateLimit is not JsonObject r)
            {
                Error(p, $"'rate_limit' must be a mapping {{key: openai, per_second: 5}}, got {JsonUtil.Describe(rateLimit)}.");
            }
            else
            {
                WarnUnknown(r, p, RateLimitKeys);
                var key = QueueKey(r["key"], p + ".key");
                var perSecond = Number(r["per_second"], p + ".per_second", 0);
                if (r["per_second"] is null)
                {
                    Error(p + ".per_second", "'per_second' is required: how many of these activities may start per second, e.g. per_second: 5.");
                }
                else if (perSecond is <= 0 or > ActivityQueueing.MaxRate)
                {
                    Error(p + ".per_second", $"'per_second' must be above 0 and at most {ActivityQueueing.MaxRate:0}, got {perSecond}.");
                    perSecond = null;
                }
                var burst = Number(r["burst"], p + ".burst", 1);
                if (burst > ActivityQueueing.MaxRate)
                {
                    Error(p + ".burst", $"'burst' must be at most {ActivityQueueing.MaxRate:0}, got {burst}.");
                    burst = null;
                }
                if (key is not null && perSecond is { } rate && (r["burst"] is null || burst is not null))
                {
                    result["rate_limit"] = new JsonObject
                    {
                        ["key"] = key,
                        ["per_second"] = rate,
                        ["burst"] = burst ?? Math.Max(1, Math.Ceiling(rate)),
                    };
                }
            }
        }
        if (obj["priority"] is { } priorityNode)
        {
            var p = path + ".priority";
            if (!JsonUtil.TryGetInteger(priorityNode, out var priority) || priority is < ActivityQueueing.MinPriority or > ActivityQueueing.MaxPriority)
            {
                Error(p, $"'priority' must be a whole number from {ActivityQueueing.MinPriority} to {ActivityQueueing.MaxPriority} (higher is claimed first), got {JsonUtil.Describe(priorityNode)}.");
            }
            else
            {
                result["priority"] = priority;
            }
        }
        return result.Count == 0 ? null : result;
    }

    /// <summary>A concurrency or rate key: a non-empty string, which may be a template rendered when the activity is ready.</summary>
    private string? QueueKey(JsonNode? node, string path)
    {
        if (node is null)
        {
            Error(path, "'key' is required: a string (it may be a template such as \"{{INPUT.customer_id}}\") naming whose limit applies.");
            return null;
        }
        if (!JsonUtil.IsString(node, out var key) || key.Length == 0 || key.Length > 500)
        {
            Error(path, $"'key' must be a non-empty string of at most 500 characters, got {JsonUtil.Describe(node)}{QuoteHint(node, "key")}.");
            return null;
        }
        return key;
    }
}
