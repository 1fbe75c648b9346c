using Spindle.Core.Common;
using Spindle.Protocol;
using Spindle.Server.Hosting;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// Queues and workers (docs/api.md): per routing key, what is waiting, delayed and running, how long the oldest
/// ready activity has waited, and the workers polling it, across every server sharing the database.
/// </summary>
public static class QueuesApi
{
    public static RouteGroupBuilder MapQueuesApi(this RouteGroupBuilder api)
    {
        api.MapGet("/queues", ListQueues).WithTags("Queues")
            .WithSummary("Queue depth per routing key (ready, delayed, running, oldest wait) and the workers polling it")
            .Answers<QueueList>(200);
        return api;
    }

    public static async Task<IResult> ListQueues(IQueueStore store, ServerOptions options, CancellationToken cancellationToken)
    {
        var now = Timestamps.ToMicros(options.Clock.GetUtcNow());
        var since = now - WorkerPresenceRecorder.Window.Ticks / 10;
        var queues = await store.GetQueuesAsync(now, since, cancellationToken);
        return Json.Result(new QueueList
        {
            Queues = queues.Select(q => new QueueInfo
            {
                RoutingKey = q.RoutingKey,
                Ready = q.Ready,
                Delayed = q.Delayed,
                Running = q.Running,
                OldestReadyAt = Timestamps.Format(q.OldestReadyAt),
                OldestWaitSeconds = q.OldestReadyAt is { } oldest ? Seconds(now - oldest) : null,
                NextDelayedAt = Timestamps.Format(q.NextDelayedAt),
                Workers = q.Workers.Select(w => new QueueWorker
                {
                    WorkerId = w.WorkerId,
                    FirstSeenAt = Timestamps.Format(w.FirstSeenAt),
                    LastSeenAt = Timestamps.Format(w.LastSeenAt),
                    LastSeenSecondsAgo = Seconds(now - w.LastSeenAt),
                    Slots = w.Slots,
                    InFlight = w.InFlight,
                }).ToList(),
            }).ToList(),
            WorkerWindowSeconds = (int)WorkerPresenceRecorder.Window.TotalSeconds,
            GeneratedAt = Timestamps.Format(now),
        }, SpindleJsonContext.Default.QueueList);
    }

    // Clock skew between servers can put a sighting slightly in the future; it reads as just now.
    private static double Seconds(long micros) => Math.Round(Math.Max(0, micros) / 1_000_000.0, 3);
}
