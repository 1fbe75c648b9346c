using System.Collections.Concurrent;
using Spindle.Core.Common;
using Spindle.Storage;

namespace Spindle.Server.Wakeups;

/// <summary>
/// In-process wake-ups: one signal per routing key for long-polling workers, one per waited-on workflow for
/// clients using <c>?wait_seconds=</c>. The store calls it after each commit.
/// </summary>
public sealed class WakeupHub : IStoreNotifier
{
    private readonly ConcurrentDictionary<string, AsyncSignal> _workers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AsyncSignal> _workflows = new(StringComparer.Ordinal);
    private readonly DelayedWakeups _delayed;
    private readonly AsyncSignal _events = new();

    public WakeupHub(TimeProvider? timeProvider = null)
    {
        _delayed = new DelayedWakeups(ActivitiesReady, timeProvider ?? TimeProvider.System);
    }

    public Task WorkerSignal(string worker) => _workers.GetOrAdd(worker, _ => new AsyncSignal()).Current;

    /// <summary>Returns the signal task for a workflow; call <see cref="ReleaseWorkflow"/> when done waiting.</summary>
    public Task WorkflowSignal(string workflowId) => _workflows.GetOrAdd(workflowId, _ => new AsyncSignal()).Current;

    public void ReleaseWorkflow(string workflowId)
    {
        // Waiters of a finished workflow are gone after this; a later waiter simply creates a fresh signal.
        if (_workflows.TryGetValue(workflowId, out var signal) && signal.Current.IsCompleted)
        {
            _workflows.TryRemove(workflowId, out _);
        }
    }

    /// <summary>Pulsed after every commit that appended workflow events (here or, with PostgreSQL, on another server).</summary>
    public Task EventsSignal => _events.Current;

    public void EventsAppended() => _events.Pulse();

    public void ActivitiesReady(string worker)
    {
        if (_workers.TryGetValue(worker, out var signal))
        {
            signal.Pulse();
        }
    }

    public void ActivitiesDelayed(string worker, long readyAt) => _delayed.Schedule(worker, Timestamps.FromMicros(readyAt));

    public void WorkflowFinished(string workflowId)
    {
        if (_workflows.TryRemove(workflowId, out var signal))
        {
            signal.Pulse();
        }
    }
}
