namespace Spindle.Core.Costs;

/// <summary>One model of the catalog (the shape of <c>POST /api/v1/llm/models/search</c>, docs/api.md).</summary>
public sealed record CatalogModel
{
    /// <summary><c>"&lt;provider&gt;/&lt;name&gt;"</c>, as written in workflow definitions.</summary>
    public required string Id { get; init; }

    public required string Provider { get; init; }

    public required string Name { get; init; }

    public required string DisplayName { get; init; }

    public required ModelPrices Prices { get; init; }

    public bool SupportsCompletion { get; init; }

    public bool SupportsEmbeddings { get; init; }

    public int? ContextWindow { get; init; }

    public int? MaxOutputTokens { get; init; }
}
