using Microsoft.Extensions.Logging;

namespace Spindle.Worker;

/// <summary>Source-generated log messages of the worker SDK.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Spindle worker {WorkerId} serving '{RoutingKey}' at {ApiUrl} (max concurrency {MaxConcurrency}, activities: {ActivityNames})")]
    public static partial void WorkerStarting(this ILogger logger, string workerId, string routingKey, Uri? apiUrl, int maxConcurrency, string activityNames);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Spindle worker {WorkerId} stopped")]
    public static partial void WorkerStopped(this ILogger logger, string workerId);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Long-poll {LongPoll}: polling with wait_seconds={WaitSeconds}")]
    public static partial void PollMode(this ILogger logger, bool longPoll, int waitSeconds);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Spindle server unavailable ({Reason}); retrying in {DelayMs:0} ms")]
    public static partial void ServerUnavailable(this ILogger logger, string reason, double delayMs);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Poll rejected with {StatusCode} {ErrorCode}: {Reason}; retrying in {DelayMs:0} ms")]
    public static partial void PollRejected(this ILogger logger, int statusCode, string? errorCode, string reason, double delayMs);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "Unexpected error in the poll loop; retrying in {DelayMs:0} ms")]
    public static partial void PollLoopError(this ILogger logger, Exception exception, double delayMs);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "Dropped a claimed activity that cannot be read and has no activity_id: {Reason}")]
    public static partial void UnreadableActivity(this ILogger logger, string reason);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "Draining {Count} running activities (up to {ShutdownSeconds} s)")]
    public static partial void Draining(this ILogger logger, int count, double shutdownSeconds);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "Shutdown timeout reached; stopping {Count} running activities")]
    public static partial void DrainTimeout(this ILogger logger, int count);

    [LoggerMessage(EventId = 20, Level = LogLevel.Debug, Message = "Starting {ActivityName} {WorkflowId}/{ActivityKey} attempt {Attempt} ({ActivityId})")]
    public static partial void ActivityStarted(this ILogger logger, string activityName, string workflowId, string activityKey, int attempt, string activityId);

    [LoggerMessage(EventId = 21, Level = LogLevel.Debug, Message = "Completed {WorkflowId}/{ActivityKey} attempt {Attempt} ({ActivityId}) in {ElapsedMs:0} ms")]
    public static partial void ActivityCompleted(this ILogger logger, string workflowId, string activityKey, int attempt, string activityId, double elapsedMs);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Failed {WorkflowId}/{ActivityKey} attempt {Attempt} ({ActivityId}) with {ErrorCode} (retryable {Retryable}, will retry {WillRetry}): {ErrorMessage}")]
    public static partial void ActivityFailed(this ILogger logger, string workflowId, string activityKey, int attempt, string activityId, string errorCode, bool retryable, bool willRetry, string errorMessage);

    [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "Lease lost for {WorkflowId}/{ActivityKey} attempt {Attempt} ({ActivityId}); the execution is stopped and its result dropped")]
    public static partial void LeaseLost(this ILogger logger, string workflowId, string activityKey, int attempt, string activityId);

    [LoggerMessage(EventId = 24, Level = LogLevel.Information, Message = "Cancel requested for {WorkflowId}/{ActivityKey} attempt {Attempt} ({ActivityId})")]
    public static partial void CancelRequested(this ILogger logger, string workflowId, string activityKey, int attempt, string activityId);

    [LoggerMessage(EventId = 25, Level = LogLevel.Warning, Message = "Heartbeat for {WorkflowId}/{ActivityKey} attempt {Attempt} ({ActivityId}) failed; retrying at the next interval")]
    public static partial void HeartbeatFailed(this ILogger logger, Exception exception, string workflowId, string activityKey, int attempt, string activityId);

    [LoggerMessage(EventId = 26, Level = LogLevel.Error, Message = "Could not report the result of {WorkflowId}/{ActivityKey} attempt {Attempt} ({ActivityId}); the server will recover it when the lease expires")]
    public static partial void ReportFailed(this ILogger logger, Exception exception, string workflowId, string activityKey, int attempt, string activityId);

    [LoggerMessage(EventId = 27, Level = LogLevel.Error, Message = "Handler of {WorkflowId}/{ActivityKey} attempt {Attempt} ({ActivityId}) threw")]
    public static partial void HandlerError(this ILogger logger, Exception exception, string workflowId, string activityKey, int attempt, string activityId);

    [LoggerMessage(EventId = 28, Level = LogLevel.Debug, Message = "Heartbeat for {WorkflowId}/{ActivityKey} attempt {Attempt} ({ActivityId}); next in {NextSeconds} s")]
    public static partial void HeartbeatSent(this ILogger logger, string workflowId, string activityKey, int attempt, string activityId, double nextSeconds);

    [LoggerMessage(EventId = 40, Level = LogLevel.Debug, Message = "Fetched an access token (expires in {ExpiresIn} s)")]
    public static partial void TokenFetched(this ILogger logger, long expiresIn);

    [LoggerMessage(EventId = 41, Level = LogLevel.Information, Message = "Token rejected on /{Path}; fetching a new one and retrying once")]
    public static partial void TokenRejected(this ILogger logger, string path);

    [LoggerMessage(EventId = 42, Level = LogLevel.Warning, Message = "Report call /{Path} failed (attempt {Attempt}); retrying in {DelayMs:0} ms")]
    public static partial void ReportRetrying(this ILogger logger, Exception exception, string path, int attempt, double delayMs);

    [LoggerMessage(EventId = 43, Level = LogLevel.Information, Message = "The server has no batched report route ({StatusCode}); reporting each result on its own")]
    public static partial void BatchReportsUnsupported(this ILogger logger, int statusCode);

    [LoggerMessage(EventId = 44, Level = LogLevel.Warning, Message = "A batched report of {Count} results failed; reporting each on its own")]
    public static partial void BatchReportFailed(this ILogger logger, Exception exception, int count);
}
