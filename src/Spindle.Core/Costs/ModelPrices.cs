namespace Spindle.Core.Costs;

/// <summary>
/// Prices of one model in USD per million tokens (cache storage per million token-hours). A missing cached-input or
/// cache-write price means the provider bills those tokens like ordinary input; a missing storage price means
/// cache storage is not priced (it counts as 0, and the server warns).
/// </summary>
public sealed record ModelPrices(
    decimal InputPerMillion,
    decimal OutputPerMillion,
    decimal? CachedInputPerMillion = null,
    decimal? CacheWritePerMillion = null,
    decimal? CacheStoragePerMillionTokenHours = null)
{
    /// <summary>All prices zero (local models).</summary>
    public static ModelPrices Free { get; } = new(0m, 0m, 0m, 0m, 0m);
}
