namespace Spindle.Core.Orchestration;

public static class WorkflowStatus
{
    public const string Created = "created";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static bool IsTerminal(string status) => status is Completed or Failed or Cancelled;

    public static bool IsKnown(string status) => status is Created or Running or Completed or Failed or Cancelled;
}

public static class ActivityStatus
{
    public const string NotScheduled = "not_scheduled";
    public const string Waiting = "waiting";
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Skipped = "skipped";
    public const string Cancelled = "cancelled";

    public static bool IsTerminal(string status) => status is Completed or Failed or Skipped or Cancelled;
}

/// <summary>Error codes the server itself writes (docs/worker-protocol.md).</summary>
public static class EngineErrorCodes
{
    public const string ActivityTimeout = "ACTIVITY_TIMEOUT";
    public const string SignalTimeout = "SIGNAL_TIMEOUT";
    public const string TemplateError = "TEMPLATE_ERROR";

    /// <summary>A template ran out of its step, size or depth limit (<see cref="Templates.TemplateLimits"/>).</summary>
    public const string TemplateLimitExceeded = "TEMPLATE_LIMIT_EXCEEDED";
    public const string Cancelled = "CANCELLED";
    public const string BudgetExceeded = "BUDGET_EXCEEDED";
}
