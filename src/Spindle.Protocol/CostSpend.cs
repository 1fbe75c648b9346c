using System.ComponentModel;

namespace Spindle.Protocol;

// Spend over time (GET /api/v1/cost/spend, docs/api.md): cost per day or hour, split by definition, model or
// provider. Money is a decimal string.

public sealed record CostSpend
{
    [Description("day or hour (UTC).")]
    public required string Bucket { get; init; }

    [Description("definition, model or provider.")]
    public required string By { get; init; }

    [Description("Start of the first bucket.")]
    public required string StartDate { get; init; }

    [Description("End of the last bucket (exclusive).")]
    public required string EndDate { get; init; }

    public required string TotalCostUsd { get; init; }

    [Description("The keys with the highest spend in the range (at most `top`), highest first.")]
    public required IReadOnlyList<SpendSeries> Series { get; init; }

    [Description("Spend of all other keys together.")]
    public required string OtherCostUsd { get; init; }

    [Description("Every bucket of the range in time order, empty ones included.")]
    public required IReadOnlyList<SpendBucket> Buckets { get; init; }
}

public sealed record SpendSeries
{
    public required string Key { get; init; }

    public required string TotalCostUsd { get; init; }
}

public sealed record SpendBucket
{
    public required string Start { get; init; }

    public required string TotalCostUsd { get; init; }

    [Description("Spend per series key in this bucket (keys without spend left out).")]
    public required IReadOnlyList<SpendPoint> Costs { get; init; }

    public required string OtherCostUsd { get; init; }
}

public sealed record SpendPoint
{
    public required string Key { get; init; }

    public required string CostUsd { get; init; }
}
