using System.Collections.Concurrent;
using System.Threading.Channels;
using Spindle.Core.Common;
using Spindle.Storage;

namespace Spindle.Server.Hosting;

/// <summary>
/// Records which workers poll which routing key (GET /api/v1/queues) without putting a write on the poll's path:
/// <see cref="Seen"/> costs a dictionary look-up, and at most once per <see cref="Throttle"/> per worker a queue
/// write; this service writes what is queued in batches (one transaction each), and prunes stale rows once a minute.
/// </summary>
public sealed partial class WorkerPresenceRecorder(IQueueStore store, ServerOptions options, ILogger<WorkerPresenceRecorder> logger) : BackgroundService
{
    /// <summary>A worker is recorded again at most this often (a long-poll lasts up to 30 s, so it is seen well within the window).</summary>
    public static readonly TimeSpan Throttle = TimeSpan.FromSeconds(5);

    /// <summary>Workers that polled within this window are listed.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(90);

    /// <summary>Rows not refreshed for this long are deleted.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    private static readonly TimeSpan PruneEvery = TimeSpan.FromMinutes(1);

    // Worker ids come from worker tokens: the memory for them is bounded, and past the bound a sighting is dropped
    // rather than remembered (it is recorded again when the map has been cleared).
    private const int MaxRemembered = 10_000;

    private readonly ConcurrentDictionary<(string RoutingKey, string WorkerId), long> _lastQueued = new();
    private readonly Channel<WorkerSighting> _queue = Channel.CreateBounded<WorkerSighting>(
        new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    private long _lastPrune;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record {Count} worker sightings")]
    private static partial void LogWriteFailed(ILogger logger, int count, Exception error);

    /// <summary>Sightings queued and not yet written.</summary>
    public int Queued => _queue.Reader.Count;

    /// <summary>Called by every poll; returns at once.</summary>
    public void Seen(string routingKey, string workerId, int slots)
    {
        var now = Timestamps.ToMicros(options.Clock.GetUtcNow());
        var key = (routingKey, workerId);
        if (_lastQueued.TryGetValue(key, out var last) && now - last < Throttle.Ticks / 10)
        {
            return;
        }
        if (_lastQueued.Count >= MaxRemembered)
        {
            _lastQueued.Clear();
        }
        _lastQueued[key] = now;
        _queue.Writer.TryWrite(new WorkerSighting(routingKey, workerId, slots, now));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<WorkerSighting>();
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < 256 && _queue.Reader.TryRead(out var sighting))
                {
                    batch.Add(sighting);
                }
                var now = Timestamps.ToMicros(options.Clock.GetUtcNow());
                long? pruneBefore = null;
                if (now - _lastPrune >= PruneEvery.Ticks / 10)
                {
                    _lastPrune = now;
                    pruneBefore = now - Retention.Ticks / 10;
                }
                try
                {
                    await store.RecordWorkersSeenAsync([.. batch], pruneBefore, stoppingToken);
                }
                catch (Exception error) when (error is not OperationCanceledException)
                {
                    // Presence is for display: a failed write loses a sighting, which the worker's next poll replaces.
                    LogWriteFailed(logger, batch.Count, error);
                }
                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
