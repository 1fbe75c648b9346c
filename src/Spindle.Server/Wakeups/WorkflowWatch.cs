namespace Spindle.Server.Wakeups;

/// <summary>
/// One workflow's waiters (<see cref="WakeupHub.WatchWorkflow"/>): <see cref="Finished"/> completes once, when a
/// commit makes the workflow terminal. A waiter that finds the workflow running again afterwards (a retry) disposes
/// this watch and takes a new one. Waiters of the same workflow share the instance: each
/// <see cref="WakeupHub.WatchWorkflow"/> call is paired with exactly one <see cref="Dispose"/>.
/// </summary>
public sealed class WorkflowWatch : IDisposable
{
    private readonly WakeupHub _hub;
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal WorkflowWatch(WakeupHub hub, string workflowId)
    {
        _hub = hub;
        WorkflowId = workflowId;
    }

    public string WorkflowId { get; }

    /// <summary>Completes when a commit made the workflow terminal after this watch was taken.</summary>
    public Task Finished => _finished.Task;

    /// <summary>Guarded by the hub's lock.</summary>
    internal int Waiters { get; set; }

    internal void Finish() => _finished.TrySetResult();

    public void Dispose() => _hub.Unwatch(this);
}
