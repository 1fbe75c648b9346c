using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;

namespace Spindle.Storage;

/// <summary>
/// Durable state of the engine, shaped around the hot path: submit, claim, complete. Every method that changes
/// state is one transaction that also runs the orchestration rules, so a recorded result and what it unblocks
/// commit together.
/// </summary>
public interface IWorkflowStore : IAsyncDisposable
{
    /// <summary>Applies numbered migrations; refuses a schema newer than this build knows.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    Task<DeployOutcome> DeployAsync(WorkflowDefinition definition, CancellationToken cancellationToken);

    Task<IReadOnlyList<DefinitionSummary>> ListDefinitionsAsync(CancellationToken cancellationToken);

    Task<StoredDefinition?> GetDefinitionAsync(string name, string? version, CancellationToken cancellationToken);

    Task<SubmitOutcome> SubmitAsync(SubmitCommand command, CancellationToken cancellationToken);

    Task<WorkflowState?> GetWorkflowAsync(string workflowId, CancellationToken cancellationToken);

    /// <summary>Only the workflow's status, for cheap terminal checks.</summary>
    Task<string?> GetWorkflowStatusAsync(string workflowId, CancellationToken cancellationToken);

    Task<(IReadOnlyList<WorkflowSummary> Items, int Total)> ListWorkflowsAsync(WorkflowQuery query, CancellationToken cancellationToken);

    Task<IReadOnlyList<ClaimedActivity>> ClaimAsync(ClaimCommand command, CancellationToken cancellationToken);

    Task<HeartbeatOutcome> HeartbeatAsync(string activityId, string workerId, CancellationToken cancellationToken);

    Task<CompleteOutcome> CompleteAsync(string activityId, string workerId, JsonObject output, decimal cost, CancellationToken cancellationToken);

    Task<FailOutcome> FailAsync(string activityId, string workerId, ActivityError error, decimal cost, CancellationToken cancellationToken);

    /// <summary>As the other overload, recording the attempt's priced usage lines as cost lines in the same transaction.</summary>
    Task<CompleteOutcome> CompleteAsync(string activityId, string workerId, JsonObject output, CostReport costs, CancellationToken cancellationToken);

    /// <summary>
    /// As the other overloads; with <paramref name="claimNext"/>, the same transaction also leases the workflow's
    /// activities that became claimable to <paramref name="workerId"/> and returns them in the outcome.
    /// </summary>
    Task<CompleteOutcome> CompleteAsync(string activityId, string workerId, JsonObject output, CostReport costs, ClaimNext? claimNext,
        CancellationToken cancellationToken);

    /// <summary>As the other overload, recording the attempt's priced usage lines as cost lines in the same transaction.</summary>
    Task<FailOutcome> FailAsync(string activityId, string workerId, ActivityError error, CostReport costs, CancellationToken cancellationToken);

    /// <summary>Cost lines, oldest first.</summary>
    Task<IReadOnlyList<StoredCostLine>> GetCostLinesAsync(CostLineQuery query, CancellationToken cancellationToken);

    /// <returns>How many result cache entries were removed (0 or 1).</returns>
    Task<int> DeleteCacheEntryAsync(string key, CancellationToken cancellationToken);

    /// <returns>How many result cache entries matched the glob <paramref name="pattern"/> (<c>*</c>, <c>?</c>, <c>[…]</c>) and were removed.</returns>
    Task<int> InvalidateCacheAsync(string pattern, CancellationToken cancellationToken);

    Task<CancelOutcome> CancelAsync(string workflowId, string? reason, CancellationToken cancellationToken);

    Task<RetryOutcome> RetryAsync(string workflowId, CancellationToken cancellationToken);

    Task<SignalOutcome> SignalAsync(string workflowId, string? activityKey, string eventName, JsonNode? data, CancellationToken cancellationToken);

    /// <returns>null when the workflow does not exist.</returns>
    Task<EventPage?> GetEventsAsync(string workflowId, string? afterEventId, int limit, IReadOnlySet<string>? eventTypes, CancellationToken cancellationToken);

    /// <summary>Fires what time makes due: expired leases, signal timeouts, workflow deadlines.</summary>
    Task<TimerOutcome> RunTimersAsync(CancellationToken cancellationToken);

    /// <summary>Routing keys with queued activities that become claimable in the future, and when.</summary>
    Task<IReadOnlyList<(string Worker, long ReadyAt)>> GetDelayedAsync(CancellationToken cancellationToken);
}

/// <summary>Told after commit what became claimable or finished, so that waiting pollers and clients wake at once.</summary>
public interface IStoreNotifier
{
    void ActivitiesReady(string worker);

    void ActivitiesDelayed(string worker, long readyAt);

    void WorkflowFinished(string workflowId);

    /// <summary>A commit appended workflow events (event streams read them from the log).</summary>
    void EventsAppended() { }
}

public sealed class NullStoreNotifier : IStoreNotifier
{
    public static readonly NullStoreNotifier Instance = new();

    public void ActivitiesReady(string worker) { }

    public void ActivitiesDelayed(string worker, long readyAt) { }

    public void WorkflowFinished(string workflowId) { }
}
