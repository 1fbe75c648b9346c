using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

// The workflow-level `concurrency: {key, limit}` (docs/workflow-format.md#workflow-level-concurrency): how many runs of
// the definition with the same rendered key may run at once. Stricter than an activity's: an unknown field is an error,
// since a misspelt `limit` would otherwise silently queue nothing.
internal sealed partial class DefinitionNormalizer
{
    /// <summary>The normalised <c>{key, limit}</c>, or null (errors recorded under <c>concurrency.*</c>).</summary>
    private JsonObject? RunConcurrency(JsonNode node)
    {
        const string path = "concurrency";
        if (node is not JsonObject c)
        {
            Error(path, $"'concurrency' must be a mapping {{key: \"{{{{INPUT.customer_id}}}}\", limit: 2}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        foreach (var (field, _) in c)
        {
            if (!ConcurrencyKeys.Contains(field))
            {
                Error($"{path}.{field}", $"'{field}' is not a field of a workflow's concurrency: give only key and limit.");
            }
        }
        var key = QueueKey(c["key"], path + ".key");
        var limit = Integer(c["limit"], path + ".limit", 1);
        if (c["limit"] is null)
        {
            Error(path + ".limit", "'limit' is required: how many runs with the same key may run at once, e.g. limit: 2.");
        }
        else if (limit > ActivityQueueing.MaxConcurrencyLimit)
        {
            Error(path + ".limit", $"'limit' must be at most {ActivityQueueing.MaxConcurrencyLimit}, got {limit}.");
            limit = null;
        }
        return key is null || limit is null ? null : new JsonObject { ["key"] = key, ["limit"] = limit };
    }
}
