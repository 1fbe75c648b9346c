using System.Collections.Concurrent;
using Spindle.Core.Common;
using Spindle.Storage;

namespace Spindle.Server.Wakeups;

/// <summary>
/// In-process wake-ups: one signal per routing key for long-polling workers, one per waited-on workflow for
/// clients using <c>?wait_seconds=</c>. The store calls it after each commit.
/// </summary>
public sealed class WakeupHub : IStoreNotifier, IScheduleNotifier
{
    private readonly ConcurrentDictionary<string, AsyncSignal> _routingKeys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AsyncSignal> _workflows = new(StringComparer.Ordinal);
    private readonly DelayedWakeups _delayed;
    private readonly AsyncSignal _events = new();

    public WakeupHub(TimeProvider? timeProvider = null)
    {
        _delayed = new DelayedWakeups(ActivitiesReady, timeProvider ?? TimeProvider.System);
    }

    /// <summary>Pulsed when a schedule changes (here, or on another server via NOTIFY): the scheduler re-plans its sleep.</summary>
    public AsyncSignal Schedules { get; } = new();

    /// <summary>Set while an occurrence waits for a running workflow to end (buffer_one): then every end wakes the scheduler.</summary>
    public bool SchedulesWaitForFinish { get; set; }

    public void SchedulesChanged() => Schedules.Pulse();

    public Task RoutingKeySignal(string routingKey) => _routingKeys.GetOrAdd(routingKey, _ => new AsyncSignal()).Current;

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

    public void ActivitiesReady(string routingKey)
    {
        if (_routingKeys.TryGetValue(routingKey, out var signal))
        {
            signal.Pulse();
        }
    }

    public void ActivitiesDelayed(string routingKey, long readyAt) => _delayed.Schedule(routingKey, Timestamps.FromMicros(readyAt));

    public void WorkflowFinished(string workflowId)
    {
        if (SchedulesWaitForFinish)
        {
            Schedules.Pulse();
        }
        if (_workflows.TryRemove(workflowId, out var signal))
        {
            signal.Pulse();
        }
    }
}
