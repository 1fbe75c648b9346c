namespace Spindle.Worker.Std.Ai;

/// <summary>A provider call that failed after its tries: the HTTP status (null for network errors and timeouts) and whether it is worth another model.</summary>
internal sealed class ProviderCallException : Exception
{
    public ProviderCallException()
    {
    }

    public ProviderCallException(string message)
        : base(message)
    {
    }

    public ProviderCallException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ProviderCallException(string message, int? statusCode, bool retryable, Exception? innerException = null)
        : base(message, innerException)
    {
        StatusCode = statusCode;
        Retryable = retryable;
    }

    public int? StatusCode { get; }

    /// <summary>429, 5xx, network errors and timeouts: another try or another model may succeed.</summary>
    public bool Retryable { get; }

    /// <summary>How many HTTP requests were sent for this model (set by <see cref="ProviderCaller"/>).</summary>
    public int Tries { get; set; } = 1;

    /// <summary>
    /// Set when a streaming answer broke off after some of its text was already published: the call is not tried again
    /// and no other model is asked, since subscribers hold a partial answer.
    /// </summary>
    public bool MidStream { get; set; }

    /// <summary>The usage a broken-off stream had reported, so that its spend is still recorded.</summary>
    public Spindle.Core.Costs.TokenUsage? PartialUsage { get; set; }

    /// <summary>The provider's <c>Retry-After</c>, when it sent one.</summary>
    public TimeSpan? RetryAfter { get; init; }
}
