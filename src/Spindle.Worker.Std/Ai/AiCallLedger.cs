using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Protocol;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// What one execution spent and tried: a usage line per model call that reported tokens (priced when the model's
/// price is known), the total cost, and the <c>fallback_attempts</c> entries for models skipped or failed.
/// </summary>
internal sealed class AiCallLedger
{
    private readonly List<UsageLine> _lines = [];

    public IReadOnlyList<UsageLine> Lines => _lines;

    /// <summary>The priced spend of this execution so far.</summary>
    public decimal SpentUsd { get; private set; }

    public JsonArray FallbackAttempts { get; } = [];

    /// <summary>True once a request reached (or tried to reach) a provider.</summary>
    public bool AnyRequestSent { get; private set; }

    public bool AnyBudgetSkip { get; private set; }

    public ProviderCallException? LastRetryableFailure { get; private set; }

    /// <summary>Records a call's usage and returns its cost (null when the model has no known price).</summary>
    public decimal? RecordCall(ModelTarget target, TokenUsage usage, ModelPrices? prices)
    {
        AnyRequestSent = true;
        decimal? cost = prices is null ? null : CostCalculator.Price(prices, usage);
        SpentUsd += cost ?? 0m;
        _lines.Add(new UsageLine
        {
            Provider = target.Provider.Name,
            Model = target.Name,
            InputTokens = usage.InputTokens,
            OutputTokens = usage.OutputTokens,
            CacheReadTokens = usage.CacheReadTokens,
            CacheCreationTokens = usage.CacheCreationTokens,
            CostUsd = cost,
        });
        return cost;
    }

    public void RecordFailure(ModelTarget target, ProviderCallException failure)
    {
        AnyRequestSent = true;
        if (failure.Retryable)
        {
            LastRetryableFailure = failure;
        }

        var entry = new JsonObject
        {
            ["model"] = target.Id,
            ["outcome"] = "failed",
            ["status"] = failure.StatusCode,
            ["retryable"] = failure.Retryable,
            ["tries"] = failure.Tries,
            ["error"] = failure.Message,
        };
        FallbackAttempts.Add(entry);
    }

    public void RecordBudgetSkip(ModelTarget target, CostEstimate? estimate, decimal? remainingUsd, string reason)
    {
        AnyBudgetSkip = true;
        FallbackAttempts.Add(new JsonObject
        {
            ["model"] = target.Id,
            ["outcome"] = "skipped_budget",
            ["estimated_cost_usd"] = estimate is null ? null : Money(estimate.CostUsd),
            ["budget_remaining_usd"] = remainingUsd is { } remaining ? Money(remaining) : null,
            ["error"] = reason,
        });
    }

    public void RecordNotConfigured(ModelTarget target, string reason) =>
        FallbackAttempts.Add(new JsonObject { ["model"] = target.Id, ["outcome"] = "skipped_not_configured", ["error"] = reason });

    /// <summary>A failure of the activity that still reports the spend of this execution.</summary>
    public ActivityFailureException Failure(string code, string message, bool retryable, Exception? inner = null) =>
        new(code, message, retryable, inner) { Usage = _lines.Count > 0 ? [.. _lines] : null };

    /// <summary>A money amount for outputs: a JSON number built from the decimal, so no binary rounding creeps in.</summary>
    public static JsonNode Money(decimal value) => JsonValue.Create(value);

    public static string MoneyText(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Ids of the models skipped for the budget, in the order tried.</summary>
    public JsonArray BudgetSkippedModels() =>
        [.. FallbackAttempts.Where(a => a?["outcome"]?.GetValue<string>() == "skipped_budget").Select(a => a?["model"]?.DeepClone())];

    /// <summary>
    /// Usage in the reference engine's names: <c>prompt_tokens</c> counts all input tokens (cached or not),
    /// <c>cached_tokens</c> the cache reads among them; <c>cache_creation_tokens</c> is Spindle's addition.
    /// </summary>
    public static JsonObject ReferenceUsageJson(TokenUsage usage) => new()
    {
        ["prompt_tokens"] = usage.PromptTokens,
        ["output_tokens"] = usage.OutputTokens,
        ["total_tokens"] = usage.TotalTokens,
        ["cached_tokens"] = usage.CacheReadTokens,
        ["cache_creation_tokens"] = usage.CacheCreationTokens,
    };

    public static JsonObject UsageJson(TokenUsage usage) => new()
    {
        ["input_tokens"] = usage.InputTokens,
        ["output_tokens"] = usage.OutputTokens,
        ["cache_read_tokens"] = usage.CacheReadTokens,
        ["cache_creation_tokens"] = usage.CacheCreationTokens,
        ["total_tokens"] = usage.TotalTokens,
    };
}
