using Spindle.Core.Definitions;

namespace Spindle.Storage;

/// <summary>
/// Durable state of the engine, shaped around the hot path: submit, claim, complete. Every command that changes
/// state is one transaction that also runs the orchestration rules, so a recorded result and what it unblocks
/// commit together. The reads are <see cref="IWorkflowReader"/>'s.
/// </summary>
public interface IWorkflowStore : IWorkflowReader, IAsyncDisposable
{
    /// <summary>Applies numbered migrations; refuses a schema newer than this build knows.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    Task<DeployOutcome> DeployAsync(WorkflowDefinition definition, CancellationToken cancellationToken);

    Task<SubmitOutcome> SubmitAsync(SubmitCommand command, CancellationToken cancellationToken);

    Task<IReadOnlyList<ClaimedActivity>> ClaimAsync(ClaimCommand command, CancellationToken cancellationToken);

    Task<HeartbeatOutcome> HeartbeatAsync(string activityId, string workerId, CancellationToken cancellationToken);

    Task<CompleteOutcome> CompleteAsync(CompleteCommand command, CancellationToken cancellationToken);

    Task<FailOutcome> FailAsync(FailCommand command, CancellationToken cancellationToken);

    /// <returns>How many result cache entries were removed (0 or 1).</returns>
    Task<int> DeleteCacheEntryAsync(string key, CancellationToken cancellationToken);

    /// <returns>How many result cache entries matched the glob <paramref name="pattern"/> (<c>*</c>, <c>?</c>, <c>[…]</c>) and were removed.</returns>
    Task<int> InvalidateCacheAsync(string pattern, CancellationToken cancellationToken);

    Task<CancelOutcome> CancelAsync(string workflowId, string? reason, CancellationToken cancellationToken);

    Task<RetryOutcome> RetryAsync(string workflowId, CancellationToken cancellationToken);

    Task<SignalOutcome> SignalAsync(SignalCommand command, CancellationToken cancellationToken);

    /// <summary>Fires what time makes due: expired leases, signal timeouts, workflow deadlines.</summary>
    Task<TimerOutcome> RunTimersAsync(CancellationToken cancellationToken);
}

/// <summary>Told after commit what became claimable or finished, so that waiting pollers and clients wake at once.</summary>
public interface IStoreNotifier
{
    void ActivitiesReady(string routingKey);

    void ActivitiesDelayed(string routingKey, long readyAt);

    void WorkflowFinished(string workflowId);

    /// <summary>A commit appended workflow events (event streams read them from the log).</summary>
    void EventsAppended() { }
}

public sealed class NullStoreNotifier : IStoreNotifier
{
    public static readonly NullStoreNotifier Instance = new();

    public void ActivitiesReady(string routingKey) { }

    public void ActivitiesDelayed(string routingKey, long readyAt) { }

    public void WorkflowFinished(string workflowId) { }
}
