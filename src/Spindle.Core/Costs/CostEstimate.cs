namespace Spindle.Core.Costs;

/// <summary>An estimated call: the model, the tokens assumed and the resulting cost in USD.</summary>
public sealed record CostEstimate(string ModelId, long InputTokens, long OutputTokens, decimal CostUsd);
