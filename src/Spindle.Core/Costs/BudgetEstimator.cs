namespace Spindle.Core.Costs;

/// <summary>
/// Cost estimates made before a model call (docs/workflow-format.md). The server's check before enqueue uses
/// <see cref="EstimateCheapest"/>; a worker that knows the prompt uses <see cref="EstimateCall"/> per model.
/// </summary>
public static class BudgetEstimator
{
    /// <summary>Input tokens assumed by the server's check, which does not look at the prompt.</summary>
    public const long ServerEstimateInputTokens = 1_000;

    /// <summary>Output tokens assumed when the activity sets no <c>max_tokens</c>.</summary>
    public const long DefaultOutputTokens = 4_096;

    /// <summary>Characters per token of the rough prompt-size estimate.</summary>
    public const int CharactersPerToken = 4;

    /// <summary>
    /// The cheapest of <paramref name="modelIds"/> at catalog prices for 1,000 input tokens plus
    /// <paramref name="maxTokens"/> (or 4,096) output tokens. Models the catalog does not know are left out; null
    /// when none is known.
    /// </summary>
    public static CostEstimate? EstimateCheapest(ModelCatalog catalog, IEnumerable<string> modelIds, long? maxTokens)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(modelIds);
        long output = OutputTokens(maxTokens);
        CostEstimate? cheapest = null;
        foreach (string id in modelIds)
        {
            if (!catalog.TryFind(id, out CatalogModel? model))
            {
                continue;
            }

            CostEstimate estimate = EstimateCall(id, model.Prices, ServerEstimateInputTokens, output);
            if (cheapest is null || estimate.CostUsd < cheapest.CostUsd)
            {
                cheapest = estimate;
            }
        }

        return cheapest;
    }

    /// <summary>The cost of a call with <paramref name="inputTokens"/> uncached input and <paramref name="outputTokens"/> output.</summary>
    public static CostEstimate EstimateCall(string modelId, ModelPrices prices, long inputTokens, long outputTokens)
    {
        ArgumentNullException.ThrowIfNull(modelId);
        ArgumentNullException.ThrowIfNull(prices);
        decimal cost = CostCalculator.Price(prices, new TokenUsage(inputTokens, outputTokens));
        return new CostEstimate(modelId, inputTokens, outputTokens, cost);
    }

    /// <summary>Tokens of a text of <paramref name="characters"/> characters, rounded up (≈ 4 characters a token).</summary>
    public static long TokensForCharacters(long characters) =>
        characters <= 0 ? 0 : (characters + CharactersPerToken - 1) / CharactersPerToken;

    /// <summary><paramref name="maxTokens"/> when positive, else <see cref="DefaultOutputTokens"/>.</summary>
    public static long OutputTokens(long? maxTokens) => maxTokens is > 0 and var value ? value : DefaultOutputTokens;
}
