namespace Spindle.Storage;

/// <summary>
/// Queues as operators see them (GET /api/v1/queues): the depth of each routing key and the workers polling it.
/// Worker presence is a small table every server of a cluster writes to when a worker polls (throttled by the
/// caller), so the answer is cluster-wide; rows not refreshed for a while are pruned.
/// </summary>
public interface IQueueStore
{
    /// <summary>
    /// Records workers seen polling (one upsert each; a later sighting wins) and, when <paramref name="pruneBefore"/>
    /// is given, deletes presence rows last seen before it.
    /// </summary>
    Task RecordWorkersSeenAsync(IReadOnlyList<WorkerSighting> sightings, long? pruneBefore, CancellationToken cancellationToken);

    /// <summary>
    /// Per routing key: queued activities (ready at <paramref name="now"/>, delayed, running) and the workers seen
    /// since <paramref name="seenSince"/> with the activities each holds. Keys with neither are left out.
    /// </summary>
    Task<IReadOnlyList<QueueSnapshot>> GetQueuesAsync(long now, long seenSince, CancellationToken cancellationToken);
}

/// <param name="Slots">The <c>max_activities</c> of the poll: how many activities the worker asked for.</param>
public sealed record WorkerSighting(string RoutingKey, string WorkerId, int Slots, long SeenAt);

/// <param name="OldestReadyAt">When the longest-waiting ready activity became claimable; null without ready ones.</param>
/// <param name="NextDelayedAt">When the first delayed activity (a retry's backoff) becomes claimable.</param>
public sealed record QueueSnapshot(string RoutingKey, int Ready, int Delayed, int Running, long? OldestReadyAt, long? NextDelayedAt,
    IReadOnlyList<WorkerPresence> Workers);

/// <param name="InFlight">Activities running under this worker id on this routing key now.</param>
public sealed record WorkerPresence(string WorkerId, long FirstSeenAt, long LastSeenAt, int Slots, int InFlight);

/// <summary>Folds the rows of the three queries (pending, running, presence) into one list ordered by routing key.</summary>
public static class QueueSnapshots
{
    /// <summary>At most this many presence rows are read for one answer.</summary>
    public const int MaxWorkers = 1000;

    public static IReadOnlyList<QueueSnapshot> Merge(
        IReadOnlyDictionary<string, (int Ready, int Delayed, long? Oldest, long? Next)> pending,
        IReadOnlyList<(string Key, string? Owner, int Count)> running,
        IReadOnlyList<(string Key, string WorkerId, long First, long Last, int Slots)> presence)
    {
        var keys = new SortedSet<string>(pending.Keys, StringComparer.Ordinal);
        keys.UnionWith(running.Select(r => r.Key));
        keys.UnionWith(presence.Select(p => p.Key));
        var inFlight = running.Where(r => r.Owner is not null).ToDictionary(r => (r.Key, r.Owner!), r => r.Count);
        var workers = presence.ToLookup(p => p.Key, StringComparer.Ordinal);
        var list = new List<QueueSnapshot>(keys.Count);
        foreach (var key in keys)
        {
            var (ready, delayed, oldest, next) = pending.TryGetValue(key, out var p) ? p : (0, 0, null, null);
            list.Add(new QueueSnapshot(key, ready, delayed, running.Where(r => r.Key == key).Sum(r => r.Count), oldest, next,
                workers[key].Select(w => new WorkerPresence(w.WorkerId, w.First, w.Last, w.Slots,
                    inFlight.GetValueOrDefault((key, w.WorkerId)))).ToList()));
        }
        return list;
    }
}
