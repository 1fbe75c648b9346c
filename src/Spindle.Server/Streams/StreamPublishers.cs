using System.Collections.Concurrent;
using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Storage;

namespace Spindle.Server.Streams;

/// <summary>
/// Who may publish into an activity's stream: the worker holding the activity's current lease. A worker that names
/// itself (<c>worker_id</c>, as Spindle's SDKs do) must be the holder; one that does not (the reference protocol has
/// no such field on the stream routes, and Kruxia workers publish without it) is accepted only while some worker
/// holds an unexpired lease, as for file uploads. A granted check is remembered briefly, since a worker publishes
/// every token of an answer and the lease cannot change hands before it expires.
/// </summary>
public sealed class StreamPublishers(IActivityLeases leases)
{
    /// <summary>How long a granted check is reused (never past the lease's end).</summary>
    private const long ReuseMicros = 2_000_000;

    private const int CacheCapacity = 10_000;

    private readonly ConcurrentDictionary<string, Granted> _granted = new(StringComparer.Ordinal);

    public enum Verdict { Allowed, NotFound, NotLeased }

    public async Task<(Verdict Verdict, string? Message)> CheckAsync(string activityId, string? workerId, CancellationToken cancellationToken)
    {
        var now = Timestamps.Now();
        if (_granted.TryGetValue(activityId, out var granted) && granted.WorkerId == workerId && now < granted.ValidUntil)
        {
            return (Verdict.Allowed, null);
        }
        var lease = await leases.GetLeaseAsync(activityId, cancellationToken);
        if (lease is null)
        {
            return (Verdict.NotFound, $"Activity {activityId} not found");
        }
        var held = lease.Status == ActivityStatus.Running && lease.LeaseUntil is { } until && until > now && lease.Owner is not null;
        if (!held || (workerId is not null && lease.Owner != workerId))
        {
            var who = workerId is null ? "" : $" under worker '{workerId}'";
            return (Verdict.NotLeased,
                $"Activity {activityId} is not running{who} (status {lease.Status}, no current lease); only the lease holder publishes into its stream");
        }
        if (_granted.Count >= CacheCapacity)
        {
            _granted.Clear();
        }
        _granted[activityId] = new Granted(workerId, Math.Min(lease.LeaseUntil!.Value, now + ReuseMicros));
        return (Verdict.Allowed, null);
    }

    private sealed record Granted(string? WorkerId, long ValidUntil);
}
