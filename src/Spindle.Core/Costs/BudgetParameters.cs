using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Core.Costs;

/// <summary>
/// The budget parameters that the server adds to <c>llm_prompt</c>/<c>embedding</c> activities (docs/workflow-format.md, Budgets), written by
/// the server with <see cref="Apply"/> and read by workers with <see cref="ReadBudget"/> and
/// <see cref="ReadModelPricing"/>. Money is written as decimal strings so no precision is lost on the way.
/// </summary>
public static class BudgetParameters
{
    public const string ModelPricing = "model_pricing";
    public const string ActivityBudgetLimitUsd = "activity_budget_limit_usd";
    public const string WorkflowBudgetLimitUsd = "workflow_budget_limit_usd";
    public const string CumulativeActivityCostUsd = "cumulative_activity_cost_usd";

    /// <summary>Spindle extension: the workflow's spend so far, so a worker can check the workflow limit exactly.</summary>
    public const string CumulativeWorkflowCostUsd = "cumulative_workflow_cost_usd";

    /// <summary>Spindle extension: the effective budget action, <c>abort</c> (default) or <c>continue</c>.</summary>
    public const string BudgetAction = "budget_action";

    /// <summary>Activity names whose budgets are enforced.</summary>
    public static IReadOnlyList<string> EnforcedActivityNames { get; } = ["llm_prompt", "embedding"];

    /// <summary>
    /// The model ids of an <c>llm_prompt</c>/<c>embedding</c> parameter object, in the order they are tried:
    /// <c>models</c> (a list) when present, else <c>model</c>. Non-string entries are ignored here (the worker
    /// rejects them).
    /// </summary>
    public static IReadOnlyList<string> ModelIdsOf(JsonObject parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var ids = new List<string>();
        if (parameters["models"] is JsonArray list)
        {
            foreach (JsonNode? item in list)
            {
                if (item is JsonValue value && value.GetValueKind() == JsonValueKind.String && value.GetValue<string>() is { Length: > 0 } id)
                {
                    ids.Add(id);
                }
            }
        }
        else if (parameters["model"] is JsonValue single && single.GetValueKind() == JsonValueKind.String && single.GetValue<string>() is { Length: > 0 } id)
        {
            ids.Add(id);
        }

        return ids;
    }

    /// <summary>
    /// Adds the budget parameters to <paramref name="parameters"/>: <c>model_pricing</c> for the listed models the
    /// catalog knows, the limits (when set), the activity's and the workflow's spend so far and the action.
    /// </summary>
    public static void Apply(
        JsonObject parameters,
        ModelCatalog catalog,
        decimal? activityLimitUsd,
        decimal? workflowLimitUsd,
        decimal cumulativeActivityCostUsd,
        decimal cumulativeWorkflowCostUsd,
        string action)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(catalog);
        parameters[ModelPricing] = BuildModelPricing(catalog, ModelIdsOf(parameters));
        parameters[ActivityBudgetLimitUsd] = activityLimitUsd is { } a ? Text(a) : null;
        parameters[WorkflowBudgetLimitUsd] = workflowLimitUsd is { } w ? Text(w) : null;
        parameters[CumulativeActivityCostUsd] = Text(cumulativeActivityCostUsd);
        parameters[CumulativeWorkflowCostUsd] = Text(cumulativeWorkflowCostUsd);
        parameters[BudgetAction] = action;
    }

    /// <summary>
    /// <c>{"provider/name": {"input_price_per_million": "2.5", "output_price_per_million": "10", …}}</c> for the
    /// models of <paramref name="modelIds"/> that the catalog knows (field names as in the models search answer).
    /// </summary>
    public static JsonObject BuildModelPricing(ModelCatalog catalog, IEnumerable<string> modelIds)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(modelIds);
        var pricing = new JsonObject();
        foreach (string id in modelIds)
        {
            if (pricing.ContainsKey(id) || !catalog.TryFind(id, out CatalogModel? model))
            {
                continue;
            }

            ModelPrices prices = model.Prices;
            var entry = new JsonObject
            {
                ["input_price_per_million"] = Text(prices.InputPerMillion),
                ["output_price_per_million"] = Text(prices.OutputPerMillion),
            };
            if (prices.CachedInputPerMillion is { } cached)
            {
                entry["cached_input_price_per_million"] = Text(cached);
            }

            if (prices.CacheWritePerMillion is { } write)
            {
                entry["cache_write_price_per_million"] = Text(write);
            }

            if (prices.CacheStoragePerMillionTokenHours is { } storage)
            {
                entry["cache_storage_price_per_million_token_hours"] = Text(storage);
            }

            pricing[id] = entry;
        }

        return pricing;
    }

    /// <summary>
    /// Reads <c>model_pricing</c>: an object keyed by model id (as <see cref="BuildModelPricing"/> writes it) or a
    /// list of model objects with an <c>id</c> (as the models search answers). Entries that cannot be read are
    /// skipped, so the worker falls back to its own catalog for them.
    /// </summary>
    public static IReadOnlyDictionary<string, ModelPrices> ReadModelPricing(JsonNode? node)
    {
        var result = new Dictionary<string, ModelPrices>(StringComparer.OrdinalIgnoreCase);
        IEnumerable<(string? Id, JsonObject? Entry)> entries = node switch
        {
            JsonObject byId => byId.Select(pair => ((string?)pair.Key, pair.Value as JsonObject)),
            JsonArray list => list.Select(item => (item is JsonObject o && o["id"] is JsonValue id && id.GetValueKind() == JsonValueKind.String ? id.GetValue<string>() : null, item as JsonObject)),
            _ => [],
        };
        foreach ((string? id, JsonObject? entry) in entries)
        {
            if (id is null || entry is null
                || !TryReadDecimal(entry["input_price_per_million"], out decimal? input) || input is null
                || !TryReadDecimal(entry["output_price_per_million"], out decimal? output)
                || !TryReadDecimal(entry["cached_input_price_per_million"], out decimal? cached)
                || !TryReadDecimal(entry["cache_write_price_per_million"], out decimal? write)
                || !TryReadDecimal(entry["cache_storage_price_per_million_token_hours"], out decimal? storage))
            {
                continue;
            }

            result[id] = new ModelPrices(input.Value, output ?? 0m, cached, write, storage);
        }

        return result;
    }

    /// <summary>Reads the limits and the spend so far; values that are absent or unreadable mean "no limit" / 0.</summary>
    public static BudgetCheck ReadBudget(JsonObject parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        decimal? Read(string name) => TryReadDecimal(parameters[name], out decimal? value) ? value : null;
        return new BudgetCheck(
            Read(ActivityBudgetLimitUsd),
            Read(CumulativeActivityCostUsd) ?? 0m,
            Read(WorkflowBudgetLimitUsd),
            Read(CumulativeWorkflowCostUsd) ?? 0m);
    }

    /// <summary>True when the effective action is <c>continue</c>: the budget then never blocks a call.</summary>
    public static bool IsContinue(JsonObject parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return parameters[BudgetAction] is JsonValue value && value.GetValueKind() == JsonValueKind.String
            && string.Equals(value.GetValue<string>().Trim(), "continue", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A money amount as a JSON number or decimal string; null and absent read as null. False when malformed.</summary>
    public static bool TryReadDecimal(JsonNode? node, out decimal? value)
    {
        var read = MoneyReader.Read(node, out var parsed);
        value = read == MoneyRead.Ok ? parsed : null;
        return read is MoneyRead.Ok or MoneyRead.Absent;
    }

    private static string Text(decimal value) => value.ToString(CultureInfo.InvariantCulture);
}
