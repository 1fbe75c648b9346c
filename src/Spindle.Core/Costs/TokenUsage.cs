namespace Spindle.Core.Costs;

/// <summary>
/// Tokens of one model call, in the usage-line convention of docs/worker-protocol.md: <see cref="InputTokens"/> are the
/// uncached input tokens only, so cache reads and cache writes are counted apart and priced at their own rates
/// (Anthropic reports it this way; OpenAI's and Gemini's cached counts are subtracted from the prompt count).
/// </summary>
public readonly record struct TokenUsage(
    long InputTokens,
    long OutputTokens,
    long CacheReadTokens = 0,
    long CacheCreationTokens = 0,
    decimal CacheStorageTokenHours = 0m)
{
    /// <summary>All input tokens, cached or not.</summary>
    public long PromptTokens => InputTokens + CacheReadTokens + CacheCreationTokens;

    public long TotalTokens => PromptTokens + OutputTokens;

    public static TokenUsage operator +(TokenUsage left, TokenUsage right) => new(
        left.InputTokens + right.InputTokens,
        left.OutputTokens + right.OutputTokens,
        left.CacheReadTokens + right.CacheReadTokens,
        left.CacheCreationTokens + right.CacheCreationTokens,
        left.CacheStorageTokenHours + right.CacheStorageTokenHours);

    public static TokenUsage Add(TokenUsage left, TokenUsage right) => left + right;
}
