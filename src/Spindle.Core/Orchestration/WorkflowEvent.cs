using System.Text.Json.Nodes;

namespace Spindle.Core.Orchestration;

/// <summary>One appended history entry (docs/api.md).</summary>
public sealed record WorkflowEvent(string EventType, string? ActivityKey, int? Iteration, JsonObject Payload);

public static class EventTypes
{
    public const string WorkflowCreated = "WorkflowCreated";
    public const string WorkflowCompleted = "WorkflowCompleted";
    public const string WorkflowFailed = "WorkflowFailed";
    public const string WorkflowCancelled = "WorkflowCancelled";
    public const string WorkflowRetried = "WorkflowRetried";
    public const string ActivityScheduled = "ActivityScheduled";
    public const string ActivityWaiting = "ActivityWaiting";
    public const string ActivitySignaled = "ActivitySignaled";
    public const string ActivityStarted = "ActivityStarted";
    public const string ActivityCompleted = "ActivityCompleted";
    public const string ActivityFailed = "ActivityFailed";
    public const string ActivitySkipped = "ActivitySkipped";
    public const string ActivityCancelled = "ActivityCancelled";

    /// <summary>A timer of the workflow (lease expiry, signal timeout, deadline) could not be handled; the server skips it.</summary>
    public const string TimerFailed = "TimerFailed";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        WorkflowCreated, WorkflowCompleted, WorkflowFailed, WorkflowCancelled, WorkflowRetried, ActivityScheduled,
        ActivityWaiting, ActivitySignaled, ActivityStarted, ActivityCompleted, ActivityFailed, ActivitySkipped,
        ActivityCancelled, TimerFailed,
    };
}

/// <summary>A result to keep in the result cache until <see cref="ExpiresAt"/> (docs/workflow-format.md).</summary>
public sealed record CacheEntry(string Key, JsonObject Outputs, long ExpiresAt);
