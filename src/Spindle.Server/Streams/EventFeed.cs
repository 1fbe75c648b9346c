using Spindle.Server.Wakeups;
using Spindle.Storage;

namespace Spindle.Server.Streams;

/// <summary>
/// Tails the event log for this server's event-stream subscribers: one read per commit wake-up (in-process, or
/// <c>LISTEN/NOTIFY</c> from other servers), whatever the number of subscribers, and only while there are any.
/// Events are handed out strictly in log order: a gap (a position allocated by a transaction not yet committed) holds
/// delivery until its writer has finished, so a subscriber that resumes from an event's position misses nothing.
/// </summary>
public sealed partial class EventFeed(IEventLog log, WakeupHub hub, ILogger<EventFeed> logger, IHostApplicationLifetime lifetime) : BackgroundService
{
    private const int BatchSize = 500;

    /// <summary>Re-read this often while there are subscribers even without a wake-up (a lost notification).</summary>
    private static readonly TimeSpan SafetyNet = TimeSpan.FromSeconds(1);

    /// <summary>Re-read this soon while a gap's writer is still in flight (its commit usually wakes the feed first).</summary>
    private static readonly TimeSpan GapRetry = TimeSpan.FromMilliseconds(20);

    private static readonly TimeSpan InitialSettleLimit = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a gap is held before the writers in flight are looked at a second time. A position is allocated a
    /// moment before its transaction takes a transaction id (when the insert is that transaction's first write), so
    /// the snapshot of the read that first sees the gap may not show its writer yet; a later one does.
    /// </summary>
    private static readonly TimeSpan GapGrace = TimeSpan.FromMilliseconds(250);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _subscribersLock = new();
    private readonly List<EventSubscriber> _subscribers = [];
    private EventSubscriber[] _snapshot = [];
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>The position up to which every event has been handed out; null while nobody listens.</summary>
    private long? _cursor;

    /// <summary>A gap at position <c>Seq</c>, first seen at <c>FirstSeen</c> while <c>Writers</c> were in flight.</summary>
    private Gap? _gap;

    /// <summary>Cancelled when the server stops: connections close with "going away".</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>
    /// Registers a subscriber; returns it with the position it starts after: every later event that matches reaches
    /// its buffer, and everything up to the position can be replayed from the log without a gap.
    /// </summary>
    public async Task<(EventSubscriber Subscriber, long Position)> SubscribeAsync(IReadOnlySet<string>? workflowIds,
        IReadOnlySet<string>? eventTypes, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            _cursor ??= await SettledHeadAsync(cancellationToken);
            var subscriber = new EventSubscriber(workflowIds, eventTypes);
            lock (_subscribersLock)
            {
                _subscribers.Add(subscriber);
                _snapshot = [.. _subscribers];
            }
            SubscribersChanged?.Invoke();
            return (subscriber, _cursor.Value);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Removes a subscriber; a second call for the same one does nothing.</summary>
    public void Unsubscribe(EventSubscriber subscriber)
    {
        lock (_subscribersLock)
        {
            if (!_subscribers.Remove(subscriber))
            {
                return;
            }
            _snapshot = [.. _subscribers];
        }
        subscriber.Dispose();
        SubscribersChanged?.Invoke();
    }

    public int SubscriberCount => Volatile.Read(ref _snapshot).Length;

    /// <summary>Called when a subscriber joins or leaves (the cluster's subscriber counts follow it).</summary>
    public Action? SubscribersChanged { get; set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Connections close as soon as the server begins to stop: the web server waits for open requests before the
        // hosted services (this one included) are told to stop, so waiting for our own stop would hold it up.
        await using var stopping = lifetime.ApplicationStopping.Register(() => _stopping.Cancel());
        await using var _ = stoppingToken.Register(() =>
        {
            _stopping.Cancel();
            foreach (var s in Volatile.Read(ref _snapshot))
            {
                s.End();
            }
        });
        while (!stoppingToken.IsCancellationRequested)
        {
            // Taken before the read, so a commit that lands during the read wakes the next round.
            var signal = hub.EventsSignal;
            var wait = Timeout.InfiniteTimeSpan;
            try
            {
                await _gate.WaitAsync(stoppingToken);
                try
                {
                    if (Volatile.Read(ref _snapshot).Length == 0)
                    {
                        // Nobody listens: forget the position, a new subscriber starts from the head then.
                        _cursor = null;
                        _gap = null;
                    }
                    else if (_cursor is not null)
                    {
                        wait = await PumpAsync(stoppingToken) ? GapRetry : SafetyNet;
                    }
                }
                finally
                {
                    _gate.Release();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogReadFailed(ex);
                wait = SafetyNet;
            }
            try
            {
                await (wait == Timeout.InfiniteTimeSpan
                    ? signal.WaitAsync(stoppingToken)
                    : Task.WhenAny(signal, Task.Delay(wait, stoppingToken)));
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Hands out what the log holds after the cursor; true when a gap still in flight holds the rest.</summary>
    private async Task<bool> PumpAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var tail = await log.ReadAfterAsync(_cursor!.Value, BatchSize, cancellationToken);
            var subscribers = Volatile.Read(ref _snapshot);
            foreach (var e in tail.Events)
            {
                var expected = _cursor.Value + 1;
                if (e.Seq != expected)
                {
                    if (_gap is not { } gap || gap.Seq != expected)
                    {
                        _gap = gap = new Gap(expected, [.. tail.InFlight], DateTime.UtcNow);
                    }
                    if (!gap.Widened && DateTime.UtcNow - gap.FirstSeen >= GapGrace)
                    {
                        gap.Writers.UnionWith(tail.InFlight); // now surely showing the gap's writer if it is still open
                        gap.Widened = true;
                    }
                    // The gap settles once every writer in flight at both looks is no longer in flight at this read's
                    // snapshot: then a committed event would be visible here, so the position was rolled back.
                    if (!gap.Widened || gap.Writers.Overlaps(tail.InFlight))
                    {
                        return true;
                    }
                }
                _gap = null;
                foreach (var s in subscribers)
                {
                    s.Offer(e);
                }
                _cursor = e.Seq;
            }
            if (tail.Events.Count < BatchSize)
            {
                return false;
            }
        }
    }

    /// <summary>The head of the log once the writers in flight at reading it have finished (bounded wait).</summary>
    private async Task<long> SettledHeadAsync(CancellationToken cancellationToken)
    {
        var (head, inFlight) = await log.HeadAsync(cancellationToken);
        var deadline = DateTime.UtcNow + InitialSettleLimit;
        // As with a gap (GapGrace): a second look at the writers in flight catches one that had no id at the first.
        await Task.Delay(GapGrace, cancellationToken);
        var (_, later) = await log.HeadAsync(cancellationToken);
        var writers = new HashSet<ulong>(inFlight);
        writers.UnionWith(later);
        while (await log.AnyInFlightAsync(writers, cancellationToken) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5, cancellationToken);
        }
        return head;
    }

    public override void Dispose()
    {
        _stopping.Dispose();
        _gate.Dispose();
        base.Dispose();
    }

    /// <summary>A hole in the positions read, and the writers that may still fill it.</summary>
    private sealed class Gap(long seq, HashSet<ulong> writers, DateTime firstSeen)
    {
        public long Seq { get; } = seq;

        public HashSet<ulong> Writers { get; } = writers;

        public DateTime FirstSeen { get; } = firstSeen;

        /// <summary>Whether the writers of a second look, <see cref="GapGrace"/> after the first, were added.</summary>
        public bool Widened { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the event log for event streams failed; retrying")]
    private partial void LogReadFailed(Exception exception);
}
