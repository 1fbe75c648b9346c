namespace Spindle.Server.Wakeups;

/// <summary>
/// Wakes pollers of a routing key when a delayed activity (backoff, <c>delay</c>, <c>scheduled_for</c>) becomes
/// claimable. Only the earliest time per key is kept: a wake-up makes pollers claim everything due, and the store
/// reschedules whatever is still in the future.
/// </summary>
public sealed class DelayedWakeups
{
    private readonly Action<string> _wake;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, (DateTimeOffset At, ITimer Timer)> _timers = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public DelayedWakeups(Action<string> wake, TimeProvider time)
    {
        _wake = wake;
        _time = time;
    }

    public void Schedule(string routingKey, DateTimeOffset at)
    {
        var due = at - _time.GetUtcNow();
        if (due <= TimeSpan.Zero)
        {
            _wake(routingKey);
            return;
        }
        lock (_lock)
        {
            if (_timers.TryGetValue(routingKey, out var existing))
            {
                if (existing.At <= at)
                {
                    return;
                }
                existing.Timer.Dispose();
            }
            var timer = _time.CreateTimer(_ => Fire(routingKey, at), null, due + TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
            _timers[routingKey] = (at, timer);
        }
    }

    private void Fire(string routingKey, DateTimeOffset at)
    {
        lock (_lock)
        {
            if (_timers.TryGetValue(routingKey, out var entry) && entry.At == at)
            {
                entry.Timer.Dispose();
                _timers.Remove(routingKey);
            }
        }
        _wake(routingKey);
    }
}
