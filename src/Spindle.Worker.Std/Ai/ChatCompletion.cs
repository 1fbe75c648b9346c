using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>The text of an answer, its token usage in the usage-line convention, and why the model stopped.</summary>
internal sealed record ChatCompletion(string Text, TokenUsage Usage, string? FinishReason);

/// <summary>Embedding vectors (one per input, in input order) and the tokens billed; <see cref="UsageEstimated"/> when the provider reports none.</summary>
internal sealed record EmbeddingBatch(IReadOnlyList<System.Text.Json.Nodes.JsonArray> Vectors, long InputTokens, bool UsageEstimated);
