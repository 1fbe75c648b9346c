using System.Collections.Concurrent;

namespace Spindle.Server.Auth;

/// <summary>
/// Slows down secret guessing at the token endpoint without locking out innocent callers. Failures are counted per
/// (client id, address) pair and per address. A pair with a few failures within the window is refused until the
/// window has passed; an address is refused as a whole only after many failures, which (since a refused attempt
/// is not counted) means it guessed at several client ids. A client id is never locked for everyone: its correct
/// secret from an address that did not fail always succeeds, so a guesser elsewhere cannot lock a client out.
/// </summary>
public sealed class FailedAttemptLimiter
{
    /// <summary>Above this many tracked keys, a failure first drops the keys whose failures all left the window.</summary>
    private const int SweepThreshold = 10_000;
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public FailedAttemptLimiter(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    /// <summary>Failures of one client id from one address before that pair is refused.</summary>
    public int MaxFailures { get; init; } = 5;

    /// <summary>
    /// Failures from one address (any client ids) before every attempt from it is refused. Larger than
    /// <see cref="MaxFailures"/> so that one mistyped secret behind a shared proxy does not lock out its neighbours.
    /// </summary>
    public int MaxAddressFailures { get; init; } = 20;

    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(1);

    /// <returns>How long the caller must wait, or null when it may try.</returns>
    public TimeSpan? RetryAfter(string clientId, string address)
    {
        var now = _time.GetUtcNow();
        TimeSpan? wait = null;
        foreach (var (key, limit) in Keys(clientId, address))
        {
            if (!_failures.TryGetValue(key, out var queue))
            {
                continue;
            }
            lock (queue)
            {
                Trim(queue, now);
                if (queue.Count >= limit)
                {
                    var until = queue.Peek() + Window - now;
                    wait = wait is null || until > wait ? until : wait;
                }
            }
        }
        return wait;
    }

    public void RecordFailure(string clientId, string address)
    {
        var now = _time.GetUtcNow();
        if (_failures.Count > SweepThreshold)
        {
            Sweep(now);
        }
        foreach (var (key, _) in Keys(clientId, address))
        {
            var queue = _failures.GetOrAdd(key, _ => new Queue<DateTimeOffset>());
            lock (queue)
            {
                Trim(queue, now);
                queue.Enqueue(now);
            }
        }
    }

    /// <summary>Bounded memory: a flood of made-up client ids leaves nothing behind once its window has passed.</summary>
    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, queue) in _failures)
        {
            lock (queue)
            {
                Trim(queue, now);
                if (queue.Count == 0)
                {
                    _failures.TryRemove(new KeyValuePair<string, Queue<DateTimeOffset>>(key, queue));
                }
            }
        }
    }

    private void Trim(Queue<DateTimeOffset> queue, DateTimeOffset now)
    {
        while (queue.Count > 0 && queue.Peek() + Window <= now)
        {
            queue.Dequeue();
        }
    }

    // '\n' cannot occur in an address, so no client id can make one pair's key collide with another's.
    private (string Key, int Limit)[] Keys(string clientId, string address) =>
        [("pair:" + address + "\n" + clientId, MaxFailures), ("addr:" + address, MaxAddressFailures)];
}
