using System.Diagnostics.CodeAnalysis;

namespace Spindle.Core.Costs;

/// <summary>Price arithmetic in <see cref="decimal"/>, so that sums of many small costs stay exact.</summary>
public static class CostCalculator
{
    private const decimal Million = 1_000_000m;

    /// <summary>The cost in USD of <paramref name="usage"/> at <paramref name="model"/>'s prices.</summary>
    public static decimal Price(CatalogModel model, TokenUsage usage)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Price(model.Prices, usage);
    }

    /// <summary>
    /// The cost in USD of <paramref name="usage"/>: each token kind at its price per million; cache reads and writes
    /// without a price of their own are billed as input; cache storage without a price costs 0. Not rounded.
    /// </summary>
    public static decimal Price(ModelPrices prices, TokenUsage usage)
    {
        ArgumentNullException.ThrowIfNull(prices);
        decimal perMillion =
            (usage.InputTokens * prices.InputPerMillion)
            + (usage.OutputTokens * prices.OutputPerMillion)
            + (usage.CacheReadTokens * (prices.CachedInputPerMillion ?? prices.InputPerMillion))
            + (usage.CacheCreationTokens * (prices.CacheWritePerMillion ?? prices.InputPerMillion))
            + (usage.CacheStorageTokenHours * (prices.CacheStoragePerMillionTokenHours ?? 0m));
        return perMillion / Million;
    }

    /// <summary>Prices a usage line of a worker report; false when the catalog does not know the model.</summary>
    public static bool TryPrice(ModelCatalog catalog, string provider, string model, TokenUsage usage, [NotNullWhen(true)] out decimal? costUsd)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        if (catalog.TryFind(provider, model, out CatalogModel? entry))
        {
            costUsd = Price(entry, usage);
            return true;
        }

        costUsd = null;
        return false;
    }
}
