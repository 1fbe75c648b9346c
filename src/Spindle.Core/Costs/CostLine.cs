namespace Spindle.Core.Costs;

/// <summary>
/// One recorded cost line of an activity attempt (docs/api.md cost history): a model call's tokens and price, the
/// part of a reported cost that no usage line covers (no provider or model), or a budget event marker
/// (<see cref="BudgetEvent"/> <c>abort</c> at cost 0, or <c>downgrade</c> on the line of the call that was made).
/// </summary>
public sealed record CostLine(
    string ActivityKey,
    int Iteration,
    int Attempt,
    string? Provider,
    string? Model,
    TokenUsage Tokens,
    decimal CostUsd,
    decimal? BudgetLimitUsd = null,
    string? BudgetEvent = null,
    decimal? EstimatedCostUsd = null)
{
    public const string Abort = "abort";
    public const string Downgrade = "downgrade";

    /// <summary>An abort marker: the call was not made, so it counts in no total (excluded from counts and averages; docs/api.md, Costs).</summary>
    public bool IsAbortMarker => BudgetEvent == Abort;
}

/// <summary>One usage line of a worker report after pricing (docs/worker-protocol.md).</summary>
public sealed record PricedUsage(string Provider, string Model, TokenUsage Tokens, decimal CostUsd);

/// <summary>
/// What a worker reported spending on one attempt: <see cref="UncoveredCostUsd"/> (its <c>cost_usd</c>: the whole cost
/// without usage lines, otherwise the part they do not cover) and the priced usage lines.
/// </summary>
public sealed record CostReport(decimal UncoveredCostUsd, IReadOnlyList<PricedUsage> Lines)
{
    public static CostReport None { get; } = new(0m, []);

    public static CostReport Of(decimal costUsd) => costUsd == 0m ? None : new CostReport(costUsd, []);

    public decimal TotalUsd => UncoveredCostUsd + Lines.Sum(l => l.CostUsd);
}

/// <summary>A usage line as a worker sent it, before pricing.</summary>
public sealed record UsageReport(string Provider, string Model, TokenUsage Tokens, decimal? CostUsd);

/// <summary>Prices usage lines from the catalog when they carry no cost of their own (docs/worker-protocol.md).</summary>
public static class UsagePricing
{
    /// <summary>
    /// Lines with their own <c>cost_usd</c> keep it; the rest are priced at catalog prices. A model the catalog does not
    /// know costs 0 and gives a warning, as does cache storage without a storage price.
    /// </summary>
    public static IReadOnlyList<PricedUsage> Price(ModelCatalog catalog, IReadOnlyList<UsageReport> lines, List<string> warnings)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(warnings);
        var priced = new List<PricedUsage>(lines.Count);
        foreach (var line in lines)
        {
            if (line.CostUsd is { } own)
            {
                priced.Add(new PricedUsage(line.Provider, line.Model, line.Tokens, own));
                continue;
            }
            if (!catalog.TryFind(line.Provider, line.Model, out var model))
            {
                warnings.Add($"Unknown model '{line.Provider}/{line.Model}': no catalog price, recorded at cost 0");
                priced.Add(new PricedUsage(line.Provider, line.Model, line.Tokens, 0m));
                continue;
            }
            if (line.Tokens.CacheStorageTokenHours > 0 && model.Prices.CacheStoragePerMillionTokenHours is null)
            {
                warnings.Add($"Model '{line.Provider}/{line.Model}' has no cache storage price: cache storage recorded at cost 0");
            }
            priced.Add(new PricedUsage(line.Provider, line.Model, line.Tokens, CostCalculator.Price(model, line.Tokens)));
        }
        return priced;
    }
}
