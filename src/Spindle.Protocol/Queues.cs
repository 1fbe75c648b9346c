using System.ComponentModel;

namespace Spindle.Protocol;

// Queues and workers (GET /api/v1/queues, docs/api.md): what is waiting on each routing key and who polls it.

public sealed record QueueList
{
    [Description("Routing keys with queued or running activities, or with workers seen recently; ordered by key.")]
    public required IReadOnlyList<QueueInfo> Queues { get; init; }

    [Description("Workers are listed when they polled within this many seconds.")]
    public required int WorkerWindowSeconds { get; init; }

    public required string GeneratedAt { get; init; }
}

public sealed record QueueInfo
{
    public required string RoutingKey { get; init; }

    [Description("Activities claimable now.")]
    public required int Ready { get; init; }

    [Description("Activities queued for later (a retry's backoff).")]
    public required int Delayed { get; init; }

    [Description("Activities running (claimed, lease held).")]
    public required int Running { get; init; }

    [Description("When the longest-waiting ready activity became claimable; null when none is ready.")]
    public required string? OldestReadyAt { get; init; }

    [Description("How long that activity has waited, in seconds.")]
    public required double? OldestWaitSeconds { get; init; }

    [Description("When the first delayed activity becomes claimable.")]
    public required string? NextDelayedAt { get; init; }

    public required IReadOnlyList<QueueWorker> Workers { get; init; }
}

public sealed record QueueWorker
{
    public required string WorkerId { get; init; }

    public required string FirstSeenAt { get; init; }

    [Description("Its latest recorded poll (recorded at most every few seconds per worker).")]
    public required string LastSeenAt { get; init; }

    public required double LastSeenSecondsAgo { get; init; }

    [Description("max_activities of its latest recorded poll: the slots it asked to fill.")]
    public required int Slots { get; init; }

    [Description("Activities running under this worker id on this routing key now.")]
    public required int InFlight { get; init; }
}
