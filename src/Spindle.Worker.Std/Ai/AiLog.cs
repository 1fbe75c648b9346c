using Microsoft.Extensions.Logging;

namespace Spindle.Worker.Std.Ai;

/// <summary>Source-generated log messages of the AI activities. Parameters and API keys are never logged.</summary>
internal static partial class AiLog
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "{Model} answered ({InputTokens} input, {OutputTokens} output tokens, cost {CostUsd} USD)")]
    public static partial void ModelAnswered(this ILogger logger, string model, long inputTokens, long outputTokens, string costUsd);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "{Model} failed after {Tries} tries; {Next}: {Reason}")]
    public static partial void ModelFailed(this ILogger logger, string model, int tries, string next, string reason);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "{Model} skipped: {Reason}")]
    public static partial void ModelSkipped(this ILogger logger, string model, string reason);

    [LoggerMessage(EventId = 303, Level = LogLevel.Debug, Message = "{Model} try {Tries} failed with status {Status}; trying again in {DelayMs:0} ms: {Reason}")]
    public static partial void ProviderRetrying(this ILogger logger, string model, int tries, int? status, double delayMs, string reason);

    [LoggerMessage(EventId = 305, Level = LogLevel.Warning, Message = "Activity {ActivityId}: stopped publishing its live stream, the answer is still recorded: {Reason}")]
    public static partial void StreamPublishFailed(this ILogger logger, string activityId, string reason);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning, Message = "Budget exceeded before execution: {Reason}")]
    public static partial void BudgetExceeded(this ILogger logger, string reason);
}
