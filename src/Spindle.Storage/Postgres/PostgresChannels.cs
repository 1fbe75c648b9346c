namespace Spindle.Storage.Postgres;

/// <summary>
/// <c>LISTEN/NOTIFY</c> channels that carry wake-ups between servers sharing one database. Payloads are plain
/// strings so that anything speaking PostgreSQL can produce or consume them.
/// </summary>
public static class PostgresChannels
{
    /// <summary>Payload: a routing key (<c>worker</c>) that gained claimable activities.</summary>
    public const string Ready = "spindle_ready";

    /// <summary>Payload: the id of a workflow that reached a terminal status.</summary>
    public const string Finished = "spindle_finished";

    /// <summary>No payload: a schedule was created, changed or deleted; schedulers re-plan their sleep.</summary>
    public const string Schedules = "spindle_schedules";

    /// <summary>Payload: empty. A commit appended workflow events; event streams re-read the log.</summary>
    public const string Events = "spindle_events";
}
