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
    private readonly Dictionary<string, WorkflowWatch> _workflows = new(StringComparer.Ordinal);
    private readonly Lock _workflowsLock = new();
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

    /// <summary>
    /// Registers a waiter for the workflow's end: its <see cref="WorkflowWatch.Finished"/> completes when a commit makes
    /// the workflow terminal (here, or on another server through <c>NOTIFY spindle_finished</c>). Dispose it when done
    /// waiting; the entry goes with its last waiter, so nothing stays behind for workflows nobody waits on.
    /// </summary>
    public WorkflowWatch WatchWorkflow(string workflowId)
    {
        lock (_workflowsLock)
        {
            if (!_workflows.TryGetValue(workflowId, out var watch))
            {
                watch = new WorkflowWatch(this, workflowId);
                _workflows[workflowId] = watch;
            }
            watch.Waiters++;
            return watch;
        }
    }

    /// <summary>How many workflows have waiters (tests check that finished waits leave nothing behind).</summary>
    public int WatchedWorkflowCount
    {
        get
        {
            lock (_workflowsLock)
            {
                return _workflows.Count;
            }
        }
    }

    internal void Unwatch(WorkflowWatch watch)
    {
        lock (_workflowsLock)
        {
            // A finished workflow's watch is already gone; a later waiter then holds a newer one, which stays.
            if (--watch.Waiters == 0 && _workflows.TryGetValue(watch.WorkflowId, out var current) && current == watch)
            {
                _workflows.Remove(watch.WorkflowId);
            }
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
        WorkflowWatch? watch;
        lock (_workflowsLock)
        {
            _workflows.Remove(workflowId, out watch);
        }
        watch?.Finish();
    }
}
