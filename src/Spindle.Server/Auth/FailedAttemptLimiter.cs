using System.Collections.Concurrent;

namespace Spindle.Server.Auth;

/// <summary>
/// Slows down secret guessing at the token endpoint: after a few failures for one client id or one address within
/// a window, further attempts are refused until the window has passed.
/// </summary>
public sealed class FailedAttemptLimiter
{
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public FailedAttemptLimiter(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    public int MaxFailures { get; init; } = 5;

    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(1);

    /// <returns>How long the caller must wait, or null when it may try.</returns>
    public TimeSpan? RetryAfter(string clientId, string address)
    {
        var now = _time.GetUtcNow();
        TimeSpan? wait = null;
        foreach (var key in Keys(clientId, address))
        {
            if (!_failures.TryGetValue(key, out var queue))
            {
                continue;
            }
            lock (queue)
            {
                Trim(queue, now);
                if (queue.Count >= MaxFailures)
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
        foreach (var key in Keys(clientId, address))
        {
            var queue = _failures.GetOrAdd(key, _ => new Queue<DateTimeOffset>());
            lock (queue)
            {
                Trim(queue, now);
                queue.Enqueue(now);
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

    private static string[] Keys(string clientId, string address) => ["client:" + clientId, "addr:" + address];
}
