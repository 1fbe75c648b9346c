using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;

namespace Spindle.Storage;

/// <summary>
/// One write transaction of a backend, as the shared orchestration code (<see cref="TransactionalWorkflowStore"/>)
/// uses it: load a workflow under its lock, let <see cref="WorkflowMachine"/> decide, write back what changed.
/// The backend owns the connection, the SQL and when statements are sent; it commits after the work returns.
/// </summary>
public interface IWriteTransaction
{
    /// <summary>The latest version of a definition when <paramref name="version"/> is null.</summary>
    Task<StoredDefinition?> ReadDefinitionAsync(string name, string? version, CancellationToken cancellationToken);

    /// <summary>Whether a live (not failed or cancelled) workflow other than <paramref name="exceptWorkflowId"/> holds the key.</summary>
    Task<bool> UniqueKeyTakenAsync(string uniqueKey, string? exceptWorkflowId, CancellationToken cancellationToken);

    /// <summary>
    /// Loads a workflow with all its activities and holds the workflow's lock until the transaction ends, so that
    /// decisions about one workflow are serialised. With <paramref name="skipLocked"/>, returns null instead of
    /// waiting when another transaction holds the lock (timers: someone else is already on it).
    /// </summary>
    Task<WorkflowState?> LockWorkflowAsync(string workflowId, bool skipLocked, CancellationToken cancellationToken);

    /// <summary>As <see cref="LockWorkflowAsync"/>, for the workflow of an activity execution.</summary>
    Task<WorkflowState?> LockWorkflowOfActivityAsync(string activityId, CancellationToken cancellationToken);

    /// <summary>Adds the row of a workflow that <see cref="PersistAsync"/> then fills in.</summary>
    Task InsertWorkflowAsync(WorkflowState workflow, CancellationToken cancellationToken);

    /// <summary>The outputs cached under <paramref name="key"/> when the entry has not expired at <paramref name="now"/>.</summary>
    Task<JsonObject?> ReadCacheAsync(string key, long now, CancellationToken cancellationToken);

    /// <summary>
    /// Writes what the machine changed (its cost lines and result-cache entries included): the workflow row, new and changed activity rows and the events (after
    /// <paramref name="leadingEvents"/>, if any). A backend shared by several servers also announces the wake-ups
    /// here, so that they are delivered exactly when the transaction commits. The last call of a transaction: a
    /// backend may send its COMMIT with these writes.
    /// </summary>
    Task PersistAsync(WorkflowState workflow, WorkflowMachine machine, IReadOnlyList<WorkflowEvent> leadingEvents, long now,
        CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="PersistAsync"/>, for a workflow written beside the one the transaction is about (a child it starts
    /// or cancels, the parent its end completes): never the last call, so it never commits.
    /// </summary>
    Task PersistLinkedAsync(WorkflowState workflow, WorkflowMachine machine, IReadOnlyList<WorkflowEvent> leadingEvents, long now,
        CancellationToken cancellationToken);

    /// <summary>
    /// Holds the run queue of a definition's workflow-level concurrency key for the rest of the transaction (so that
    /// servers start its runs one at a time), then reads how many of its runs are <c>running</c> and which waiting
    /// (<c>created</c>) run is the oldest. May be called again in one transaction.
    /// </summary>
    Task<(int Running, string? OldestWaitingId)> LockRunQueueAsync(string definitionName, string concurrencyKey,
        CancellationToken cancellationToken);

    /// <summary>The children of <paramref name="parentId"/> that have not ended, oldest first.</summary>
    Task<IReadOnlyList<ChildLink>> ReadRunningChildrenAsync(string parentId, CancellationToken cancellationToken);

    /// <summary>
    /// Adds events to a workflow without loading it: for recording that a decision about the workflow could not be
    /// made (its rows would not load), where <see cref="PersistAsync"/> has no machine to write.
    /// </summary>
    Task AppendEventsAsync(string workflowId, IReadOnlyList<WorkflowEvent> events, long now, CancellationToken cancellationToken);
}
