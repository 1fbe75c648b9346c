using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Spindle.Core.Definitions;

namespace Spindle.Core.Costs;

/// <summary>
/// Keys of the result cache (docs/workflow-format.md): <c>"&lt;worker&gt;.&lt;activity_name&gt;:&lt;sha256&gt;"</c>, where the
/// hash is the SHA-256 of <c>"&lt;worker&gt;.&lt;activity_name&gt;:"</c> followed by the canonical JSON of the resolved
/// <c>cache_key</c> or, without one, of the resolved parameters. The readable prefix lets
/// <c>POST /api/v1/cache/invalidate</c> take patterns such as <c>std.llm_prompt:*</c>.
/// </summary>
public static class ResultCacheKeys
{
    /// <summary>TTL of the boolean form without <c>cache_ttl</c>.</summary>
    public const int DefaultTtlSeconds = 3600;

    private static readonly HashSet<string> ServerAddedParameters = new(StringComparer.Ordinal)
    {
        BudgetParameters.ModelPricing,
        BudgetParameters.ActivityBudgetLimitUsd,
        BudgetParameters.WorkflowBudgetLimitUsd,
        BudgetParameters.CumulativeActivityCostUsd,
        BudgetParameters.CumulativeWorkflowCostUsd,
        BudgetParameters.BudgetAction,
    };

    public static string Compute(string routingKey, string activityName, JsonNode? cacheKey, JsonObject? parameters)
    {
        ArgumentNullException.ThrowIfNull(routingKey);
        ArgumentNullException.ThrowIfNull(activityName);
        var prefix = routingKey + "." + activityName + ":";
        JsonNode? keyed = cacheKey ?? WithoutBudgetParameters(parameters);
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(prefix + CanonicalJson.Serialize(keyed)));
        return prefix + Convert.ToHexStringLower(bytes);
    }

    /// <summary>The parameters without what the server adds for budgets, which changes with the spend so far.</summary>
    private static JsonObject WithoutBudgetParameters(JsonObject? parameters)
    {
        var copy = new JsonObject();
        if (parameters is null)
        {
            return copy;
        }
        foreach (var (name, value) in parameters)
        {
            if (!ServerAddedParameters.Contains(name))
            {
                copy[name] = value?.DeepClone();
            }
        }
        return copy;
    }
}
