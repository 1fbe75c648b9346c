using System.ComponentModel;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

// Workflow runs (docs/api.md). Times are RFC 3339 strings in UTC with microseconds, money is a decimal string with
// at least four places; both are formatted by the server, so they are strings here. User data (input, outputs, event
// payloads) is carried as JSON nodes and keeps its exact content.

[Description("Submit a run of a deployed definition.")]
public sealed record SubmitWorkflowRequest
{
    [Description("Name of a deployed workflow definition.")]
    public required string DefinitionName { get; init; }

    [Description("Definition version; the latest when omitted.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Version { get; init; }

    [Description("Read by templates as INPUT.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Input { get; init; }

    [Description("At most one running workflow per key (1-255 characters).")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? UniqueKey { get; init; }

    [Description("Claim priority of the run's activities (0-1000, higher first; default 0); an activity's own priority wins.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Priority { get; init; }
}

public sealed record SubmitWorkflowResponse
{
    public required string WorkflowId { get; init; }

    public required string DefinitionName { get; init; }

    public required string DefinitionVersion { get; init; }

    [Description("Always \"created\". A run whose definition has a workflow-level concurrency stays created (waiting) until a slot of its key frees.")]
    public required string Status { get; init; }

    public required string CreatedAt { get; init; }
}

[Description("A workflow run with its activities (none before it starts).")]
public sealed record WorkflowDetail
{
    public required string Id { get; init; }

    [Description("created (accepted, not started: also a run waiting for a slot of its workflow-level concurrency key), running, completed, failed or cancelled.")]
    public required string Status { get; init; }

    public required string DefinitionName { get; init; }

    public required string DefinitionVersion { get; init; }

    public required string CreatedAt { get; init; }

    public required string UpdatedAt { get; init; }

    public required string? CompletedAt { get; init; }

    public required string? ErrorMessage { get; init; }

    [Description("Always empty; kept for Kruxia Flow clients.")]
    public required JsonObject StateData { get; init; }

    public required string TotalCostUsd { get; init; }

    public required IReadOnlyList<WorkflowActivity> Activities { get; init; }

    [Description("The schedule that started this run, if one did.")]
    public required string? ScheduleId { get; init; }

    [Description("The schedule occurrence this run is for (RFC 3339), if a schedule started it.")]
    public required string? ScheduledAt { get; init; }

    [Description("The workflow whose workflow: activity started this one, if any (docs/workflow-format.md#child-workflows).")]
    public required string? ParentId { get; init; }

    [Description("The key of the parent's activity that started this workflow, if a parent did.")]
    public required string? ParentActivityKey { get; init; }

    [Description("The child workflows this one started, oldest first.")]
    public required IReadOnlyList<WorkflowChild> Children { get; init; }

    [Description("The priority given at submit (0-1000; a child's comes from its parent or its activity's priority).")]
    public int Priority { get; init; }

    [Description("The rendered key of the definition's workflow-level concurrency, if it has one: a created run with a key waits for a slot of it.")]
    public string? ConcurrencyKey { get; init; }
}

/// <summary>A child workflow as its parent's detail lists it.</summary>
public sealed record WorkflowChild
{
    public required string WorkflowId { get; init; }

    public required string DefinitionName { get; init; }

    public required string Status { get; init; }

    [Description("The parent's activity that started it.")]
    public required string ActivityKey { get; init; }

    [Description("The attempt of that activity it ran for (a retry starts a new child).")]
    public required int Attempt { get; init; }

    public required string CreatedAt { get; init; }

    public required string? CompletedAt { get; init; }
}

public sealed record WorkflowActivity
{
    public required string ActivityKey { get; init; }

    public required string Status { get; init; }

    [Description("[{name, type, value}], or null before the activity completes.")]
    public required IReadOnlyList<ActivityOutputItem>? Outputs { get; init; }

    [Description("The failure as one line, \"CODE: message\" (the structured form is error_detail).")]
    public required string? Error { get; init; }

    public required ActivityErrorDetail? ErrorDetail { get; init; }

    public required string? StartedAt { get; init; }

    public required string? ClaimedAt { get; init; }

    public required string? CompletedAt { get; init; }

    public required int Attempt { get; init; }

    public required int Iteration { get; init; }

    [Description("A map (for_each): {total, started, completed, failed, running, failures}; its items are listed by GET …/activities/{key}/items.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Map { get; init; }
}

/// <summary>One named output of an activity, in the list form <c>[{name, type, value}]</c>.</summary>
public sealed record ActivityOutputItem
{
    public required string Name { get; init; }

    [Description("Always \"value\".")]
    public required string Type { get; init; }

    public required JsonNode? Value { get; init; }
}

public sealed record ActivityErrorDetail
{
    public required string Code { get; init; }

    public required string? Message { get; init; }
}

public sealed record WorkflowListItem
{
    public required string Id { get; init; }

    public required string Status { get; init; }

    public required string DefinitionName { get; init; }

    public required string DefinitionVersion { get; init; }

    public required string CreatedAt { get; init; }

    public required string UpdatedAt { get; init; }

    public required string? ErrorMessage { get; init; }

    [Description("The schedule that started this run, if one did.")]
    public required string? ScheduleId { get; init; }

    [Description("The schedule occurrence this run is for (RFC 3339), if a schedule started it.")]
    public required string? ScheduledAt { get; init; }

    [Description("When the run ended (RFC 3339), null while it runs.")]
    public string? CompletedAt { get; init; }

    [Description("What the run has cost so far, USD (a decimal string).")]
    public string TotalCostUsd { get; init; } = "0";
}

public sealed record WorkflowList
{
    public required IReadOnlyList<WorkflowListItem> Workflows { get; init; }

    public required int Total { get; init; }

    public required int Count { get; init; }

    public required int Limit { get; init; }

    public required int Offset { get; init; }

    [Description("Opaque cursor of the next (older) page, null on the last; pass it as cursor. Stable while runs are added.")]
    public string? NextCursor { get; init; }

    [Description("Opaque cursor of the previous (newer) page, null on the first.")]
    public string? PrevCursor { get; init; }
}

[Description("The outputs of a completed workflow, by activity key.")]
public sealed record WorkflowOutputResponse
{
    public required string WorkflowId { get; init; }

    public required string Status { get; init; }

    public required string TotalCostUsd { get; init; }

    public required string? CompletedAt { get; init; }

    public required IReadOnlyDictionary<string, WorkflowOutputEntry> Outputs { get; init; }

    [Description("Keys of the activities nothing depends on.")]
    public required IReadOnlyList<string> TerminalOutputs { get; init; }
}

public sealed record WorkflowOutputEntry
{
    public required string Status { get; init; }

    public required IReadOnlyList<ActivityOutputItem>? Output { get; init; }

    public required string CostUsd { get; init; }

    public required string? CompletedAt { get; init; }

    public required bool IsTerminal { get; init; }
}

public sealed record ActivityOutputResponse
{
    public required string WorkflowId { get; init; }

    public required string ActivityKey { get; init; }

    public required string Status { get; init; }

    public required IReadOnlyList<ActivityOutputItem>? Output { get; init; }

    public required string CostUsd { get; init; }

    public required string? CompletedAt { get; init; }

    public required IReadOnlyList<ActivityFile> Files { get; init; }
}

public sealed record SignalRequest
{
    [Description("Alias: signal_name.")]
    public required string EventName { get; init; }

    [Description("The waiting activity; any activity waiting on event_name when omitted.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ActivityKey { get; init; }

    [Description("Delivered to the activity as signal_data and SIGNAL.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonNode? Data { get; init; }
}

public sealed record SignalResponse
{
    public required bool Signaled { get; init; }

    public required string Message { get; init; }
}

public sealed record CancelWorkflowResponse
{
    public required string WorkflowId { get; init; }

    public required string Status { get; init; }

    public required bool CancelRequested { get; init; }
}

public sealed record RetryWorkflowResponse
{
    public required string WorkflowId { get; init; }

    public required string Status { get; init; }

    public required IReadOnlyList<string> RetriedActivities { get; init; }
}

public sealed record WorkflowEventRecord
{
    public required string Id { get; init; }

    public required string WorkflowId { get; init; }

    public required string EventType { get; init; }

    public required string? ActivityKey { get; init; }

    public required int? Iteration { get; init; }

    public required JsonObject Payload { get; init; }

    public required string Timestamp { get; init; }
}

public sealed record WorkflowEventList
{
    public required string WorkflowId { get; init; }

    public required IReadOnlyList<WorkflowEventRecord> Events { get; init; }

    public required int Count { get; init; }

    public required bool HasMore { get; init; }
}
