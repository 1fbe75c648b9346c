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

    /// <summary>
    /// Payload: empty. A server's listener has just started listening: the others count the listeners again at once,
    /// so that a server that was alone starts sending its wake-ups (<see cref="PostgresNotificationSender.OthersListening"/>).
    /// </summary>
    public const string Joined = "spindle_joined";

    /// <summary>
    /// The <c>application_name</c> of each server's listening connection: servers count one another's by it in
    /// <c>pg_stat_activity</c>. Anything else that wants these wake-ups listens under this name too.
    /// </summary>
    public const string ListenerApplicationName = "spindle-listener";
}
