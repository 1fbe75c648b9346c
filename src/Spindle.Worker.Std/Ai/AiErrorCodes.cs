namespace Spindle.Worker.Std.Ai;

/// <summary>Error codes of the AI activities (besides <see cref="ErrorCodes.InvalidParameters"/>).</summary>
public static class AiErrorCodes
{
    /// <summary>No listed model fits the remaining budget; nothing was sent (not retryable).</summary>
    public const string BudgetExceeded = "BUDGET_EXCEEDED";

    /// <summary>The provider answered with an error or could not be reached; retryable for 429, 5xx and network errors.</summary>
    public const string ProviderError = "LLM_PROVIDER_ERROR";

    /// <summary>No listed model's provider has an API key configured (not retryable).</summary>
    public const string ProviderNotConfigured = "LLM_PROVIDER_NOT_CONFIGURED";

    /// <summary>
    /// A streamed answer broke off after part of it was published (the connection dropped, the provider reported an
    /// error in the stream, or the stream ended unfinished); no other model is tried. Retryable when the cause is.
    /// </summary>
    public const string StreamError = "LLM_STREAM_ERROR";

    /// <summary>JSON-output mode was asked for and the answer is not JSON (retryable: another sample may be).</summary>
    public const string InvalidJson = "LLM_INVALID_JSON";
}
