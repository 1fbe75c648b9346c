namespace Spindle.Core.Costs;

/// <summary>One LLM provider of the catalog (the shape of <c>GET /api/v1/llm/providers</c>, docs/api.md).</summary>
public sealed record CatalogProvider
{
    public required string Name { get; init; }

    public required string DisplayName { get; init; }

    /// <summary>The provider's public API base URL (workers may be pointed elsewhere by configuration).</summary>
    public string? ApiEndpoint { get; init; }

    public bool SupportsCompletion { get; init; }

    public bool SupportsEmbeddings { get; init; }

    public bool SupportsStreaming { get; init; }

    public bool RequiresApiKey { get; init; }

    /// <summary>
    /// Models run on the operator's own hardware: any model of this provider, listed or not, is priced at 0.
    /// </summary>
    public bool Local { get; init; }
}
