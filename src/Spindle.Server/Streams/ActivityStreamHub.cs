using System.Collections.Concurrent;

namespace Spindle.Server.Streams;

/// <summary>
/// The activity streams this server knows: those published to it and (with PostgreSQL) those relayed from other
/// servers. A finished stream stays for <see cref="FinishedRetention"/> so that a subscriber arriving just after the
/// end still gets it all; one that stops changing without finishing (its worker died) expires after
/// <see cref="IdleExpiry"/>.
/// </summary>
public sealed class ActivityStreamHub
{
    public static readonly TimeSpan FinishedRetention = TimeSpan.FromSeconds(60);

    public static readonly TimeSpan IdleExpiry = TimeSpan.FromHours(1);

    /// <summary>Streams kept at once; beyond it the stalest finished ones go first.</summary>
    public const int MaxStreams = 10_000;

    private readonly ConcurrentDictionary<string, ActivityStream> _streams = new(StringComparer.Ordinal);
    private long _lastSweep = Environment.TickCount64;

    /// <summary>Set when frames published here must also reach other servers.</summary>
    public Action<string, string, bool>? Relay { get; set; }

    /// <summary>Called when a subscriber joins or leaves any stream (the cluster's subscriber counts follow it).</summary>
    public Action? SubscribersChanged { get; set; }

    /// <summary>Appends a frame published to this server and relays it; returns the local subscriber count (-1: finished).</summary>
    public int Publish(string activityId, string frame, bool terminal)
    {
        var count = Apply(activityId, frame, terminal);
        if (count >= 0)
        {
            Relay?.Invoke(activityId, frame, terminal);
        }
        return count;
    }

    /// <summary>Appends a frame (published here or relayed from another server).</summary>
    public int Apply(string activityId, string frame, bool terminal)
    {
        Sweep();
        return _streams.GetOrAdd(activityId, id => New(id)).Append(frame, terminal);
    }

    public ActivityStream Get(string activityId)
    {
        Sweep();
        return _streams.GetOrAdd(activityId, New);
    }

    public int SubscriberCount(string activityId) => _streams.TryGetValue(activityId, out var s) ? s.SubscriberCount : 0;

    /// <summary>The streams that have subscribers on this server, with their counts.</summary>
    public IEnumerable<(string ActivityId, int Count)> Subscribed() =>
        _streams.Select(kv => (kv.Key, kv.Value.SubscriberCount)).Where(s => s.SubscriberCount > 0);

    private ActivityStream New(string activityId) => new(activityId, () => SubscribersChanged?.Invoke());

    private void Sweep()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastSweep);
        if (now - last < 10_000 && _streams.Count < MaxStreams || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return;
        }
        foreach (var (id, stream) in _streams)
        {
            var age = now - stream.TouchedAt;
            if (stream.SubscriberCount == 0 &&
                ((stream.Finished && age > FinishedRetention.TotalMilliseconds) || age > IdleExpiry.TotalMilliseconds || _streams.Count >= MaxStreams && stream.Finished))
            {
                _streams.TryRemove(id, out _);
            }
        }
    }
}
