using System.Collections.Concurrent;

namespace Spindle.Storage;

/// <summary>
/// The workflow of each activity execution this process leased out, so that a completion can join the group
/// commit (<see cref="WriteCombiner{TItem,TResult}"/>) knowing its workflow before touching the database. Only a hint: a completion
/// whose activity is not here (leased by another server, or forgotten) takes the uncombined path.
/// </summary>
public sealed class LeaseDirectory
{
    /// <summary>Leases that never report (expired, taken over elsewhere) must not grow the map without bound.</summary>
    private const int Capacity = 100_000;

    private readonly ConcurrentDictionary<string, string> _workflowOf = new(StringComparer.Ordinal);

    public int Count => _workflowOf.Count;

    public void Leased(string activityId, string workflowId)
    {
        if (_workflowOf.Count >= Capacity)
        {
            _workflowOf.Clear();
        }
        _workflowOf[activityId] = workflowId;
    }

    /// <summary>The activity's workflow, forgetting the entry: a report settles the lease whatever its answer.</summary>
    public bool TryTake(string activityId, out string workflowId) =>
        _workflowOf.TryRemove(activityId, out workflowId!);
}
