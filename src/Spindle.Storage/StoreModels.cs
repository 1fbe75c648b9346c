using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;

namespace Spindle.Storage;

public enum StoreStatus
{
    Ok,
    NotFound,
    Conflict,
    BadState,
}

public sealed record DeployOutcome(string Name, string Version, long CreatedAt, bool Unchanged);

public sealed record DefinitionSummary(string Name, string Version, int ActivityCount, long CreatedAt);

public sealed record StoredDefinition(string Name, string Version, WorkflowDefinition Definition, long CreatedAt);

/// <param name="Grants">
/// Slots that long-polls waiting in this process reserved for this submit: the submitting transaction leases the new
/// workflow's first activities to them (<see cref="SubmitOutcome.HandedOver"/>) instead of leaving them to be claimed.
/// </param>
/// <param name="ScheduleId">The schedule that submits this occurrence, and the occurrence (<paramref name="ScheduledAt"/>, µs).</param>
public sealed record SubmitCommand(string DefinitionName, string? Version, JsonObject Input, string? UniqueKey,
    IReadOnlyList<SlotGrant>? Grants = null, string? ScheduleId = null, long? ScheduledAt = null)
{
    /// <summary>The workflow's priority: its activities' claim order unless they set their own (docs/workflow-format.md).</summary>
    public int Priority { get; init; }
}

/// <summary>
/// <paramref name="Slots"/> slots of a poll by worker <paramref name="WorkerId"/> for routing key <paramref name="RoutingKey"/>
/// (within <paramref name="ActivityNames"/>, null: any), reserved before the transaction that may lease activities to it.
/// </summary>
public sealed record SlotGrant(string RoutingKey, string WorkerId, IReadOnlyList<string>? ActivityNames, int Slots);

public sealed record SubmitOutcome(StoreStatus Status, string? Message, WorkflowState? Workflow)
{
    /// <summary>The first activities the committed submit leased to its <see cref="SubmitCommand.Grants"/>.</summary>
    public IReadOnlyList<ClaimedActivity> HandedOver { get; init; } = [];
}

public sealed record WorkflowQuery(string? Status, string? DefinitionName, long? CreatedAfter, long? CreatedBefore, int Limit, int Offset)
{
    /// <summary>Only runs started by this schedule.</summary>
    public string? ScheduleId { get; init; }

    /// <summary>Only runs whose id starts with this (lowercase hex digits and dashes; a whole id matches itself).</summary>
    public string? IdPrefix { get; init; }

    /// <summary>
    /// Keyset paging: only runs after this position in the newest-first order (or before it, when
    /// <see cref="WorkflowCursor.Backward"/>); <see cref="Offset"/> still applies on top. Rows come newest first either way.
    /// </summary>
    public WorkflowCursor? Cursor { get; init; }
}

/// <summary>A position in the runs list (its order is <c>created_at DESC, id DESC</c>): the row a page starts after.</summary>
public sealed record WorkflowCursor(long CreatedAt, string Id, bool Backward);

public sealed record WorkflowSummary(
    string Id, string Status, string DefinitionName, string DefinitionVersion, long CreatedAt, long UpdatedAt, string? ErrorMessage)
{
    /// <summary>The schedule that started the run and its occurrence (µs), when a schedule did.</summary>
    public string? ScheduleId { get; init; }

    public long? ScheduledAt { get; init; }

    /// <summary>What the run has cost so far (USD).</summary>
    public decimal TotalCost { get; init; }

    public long? CompletedAt { get; init; }
}

/// <summary>A child workflow as its parent sees it: which activity instance (id, attempt) started it, and how it stands.</summary>
public sealed record ChildLink(
    string WorkflowId, string DefinitionName, string Status, string ParentActivityKey, string ParentActivityId, int ParentAttempt,
    long CreatedAt, long? CompletedAt);

public sealed record ClaimCommand(string RoutingKey, string WorkerId, int MaxActivities, IReadOnlyList<string>? ActivityNames);

/// <summary>One activity handed to a worker (docs/worker-protocol.md). <see cref="Parameters"/> hold the secrets' values:
/// the store rebuilds them from <see cref="SecretParameters"/> on the way out and never writes them back.</summary>
public sealed record ClaimedActivity(
    string ActivityId, string WorkflowId, string ActivityKey, string RoutingKey, string ActivityName, JsonObject Parameters,
    JsonObject Delivery, JsonNode? SignalData, int Attempt, int Iteration, int LeaseSeconds)
{
    /// <summary>As the claim statement read it: which parameters to rebuild (null once they are, or when none).</summary>
    public JsonArray? SecretParameters { get; init; }
}

public sealed record HeartbeatOutcome(StoreStatus Status, bool Acknowledged, int LeaseSeconds, bool CancelRequested);

/// <summary>What a completion also leases to its worker (the <c>claim-next</c> extension): up to <paramref name="MaxActivities"/>
/// (slots reserved before the transaction) of the activities of routing key <paramref name="RoutingKey"/> (null: the completed
/// activity's) that the result made claimable.</summary>
public sealed record ClaimNext(string? RoutingKey, int MaxActivities, IReadOnlyList<string>? ActivityNames);

/// <param name="Claimed">Activities leased to the worker with the result (<see cref="ClaimNext"/>); empty otherwise.</param>
public sealed record CompleteOutcome(StoreStatus Status, string? Message, IReadOnlyList<ClaimedActivity>? Claimed = null)
{
    /// <summary>
    /// How many more activities of the claim-next routing key this decision made claimable than it leased (the
    /// worker's slots ran out): the server hands them to other waiting long-polls right after commit.
    /// </summary>
    public int Unclaimed { get; init; }

    /// <summary>The routing key <see cref="Unclaimed"/> counts for.</summary>
    public string? UnclaimedRoutingKey { get; init; }
}

public sealed record FailOutcome(StoreStatus Status, string? Message, bool WillRetry);

public sealed record ActivityError(string Code, string Message, bool Retryable);

public sealed record CancelOutcome(StoreStatus Status, string? WorkflowStatus);

public sealed record RetryOutcome(StoreStatus Status, string? Message, IReadOnlyList<string> RetriedActivities);

public sealed record SignalOutcome(StoreStatus Status, IReadOnlyList<string> SignaledActivities);

public sealed record StoredEvent(
    string Id, string WorkflowId, string EventType, string? ActivityKey, int? Iteration, JsonObject Payload, long Timestamp);

public sealed record EventPage(IReadOnlyList<StoredEvent> Events, bool HasMore);

public sealed record TimerOutcome(int ExpiredLeases, int SignalTimeouts, int Deadlines)
{
    /// <summary>Timers whose handling threw this pass; each was skipped and the others still fired.</summary>
    public IReadOnlyList<TimerFailure> Failures { get; init; } = [];
}

/// <summary>
/// A timer of one workflow that could not be handled. <see cref="FirstReport"/> is true the first time this process
/// saw it fail (then a <c>TimerFailed</c> event was recorded on the workflow, if that could be written).
/// </summary>
public sealed record TimerFailure(string WorkflowId, string? ActivityKey, string Timer, Exception Error, bool FirstReport);

/// <summary>Cost lines of one workflow (<see cref="WorkflowId"/>) or of every workflow in a time range (created_at, µs).</summary>
public sealed record CostLineQuery(string? WorkflowId, long? From, long? To);

/// <summary>A stored cost line with what the cost routes need of its workflow.</summary>
public sealed record StoredCostLine(
    long Seq, string WorkflowId, CostLine Line, long CreatedAt, string DefinitionName, string WorkflowStatus, long WorkflowCreatedAt,
    decimal? WorkflowBudgetLimit);
