using System.Net;

namespace Spindle.Worker;

/// <summary>A Spindle API call answered with an error status (the envelope's code and message when present).</summary>
public class SpindleApiException : Exception
{
    public SpindleApiException()
    {
    }

    public SpindleApiException(string message)
        : base(message)
    {
    }

    public SpindleApiException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public SpindleApiException(HttpStatusCode statusCode, string? errorCode, string message)
        : base(message)
    {
        StatusCode = statusCode;
        ErrorCode = errorCode;
    }

    /// <summary>The HTTP status of the answer.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>The <c>error.code</c> of the envelope, when the server sent one.</summary>
    public string? ErrorCode { get; }

    /// <summary>True for 5xx and 429: the call may succeed when repeated.</summary>
    public bool IsTransient => (int)StatusCode >= 500 || StatusCode == HttpStatusCode.TooManyRequests;
}

/// <summary>
/// 409 on heartbeat, complete or fail: another worker owns the activity, or its result is already recorded.
/// The worker must stop and drop the execution (docs/worker-protocol.md, "Answers to complete and fail").
/// </summary>
public sealed class LeaseLostException : SpindleApiException
{
    public LeaseLostException()
    {
    }

    public LeaseLostException(string message)
        : base(message)
    {
    }

    public LeaseLostException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public LeaseLostException(string activityId, string? errorCode, string message)
        : base(HttpStatusCode.Conflict, errorCode, message)
    {
        ActivityId = activityId;
    }

    /// <summary>The activity whose lease is lost.</summary>
    public string? ActivityId { get; }
}

/// <summary>
/// A completion too large for the server: its serialised size is over the server's body limit (checked before
/// sending), or the server answered 413 <c>PAYLOAD_TOO_LARGE</c>. Never worth repeating; the worker reports the
/// activity as failed with <c>OUTPUT_TOO_LARGE</c> instead.
/// </summary>
public sealed class OutputTooLargeException : SpindleApiException
{
    public OutputTooLargeException()
    {
    }

    public OutputTooLargeException(string message)
        : base(message)
    {
    }

    public OutputTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public OutputTooLargeException(long? size, long? limit, string message)
        : base(HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE", message)
    {
        Size = size;
        Limit = limit;
    }

    /// <summary>The serialised size of the request in bytes, when known.</summary>
    public long? Size { get; }

    /// <summary>The server's body limit in bytes, when known.</summary>
    public long? Limit { get; }
}
