using System.Diagnostics;
using Npgsql;
using Spindle.Storage.Postgres;

namespace Spindle.Server.Wakeups;

/// <summary>
/// Wakes this server's long-polls and <c>?wait_seconds=</c> waiters when another server commits work on
/// the shared PostgreSQL database: one dedicated <c>LISTEN</c> connection feeding <see cref="WakeupHub"/>. When the
/// connection drops (a database restart, a network cut) it reconnects on its own with backoff; wake-ups missed
/// meanwhile are covered by the waiters' slow fallback re-check.
/// <para>
/// It also tells this server's <see cref="PostgresNotificationSender"/> whether any other server listens: once a
/// second it counts the other listening sessions of this database in <c>pg_stat_activity</c> (by their
/// <c>application_name</c>, which PostgreSQL shows for every role's sessions), and at once when a server announces
/// itself on <see cref="PostgresChannels.Joined"/> after its own <c>LISTEN</c>. A server alone thus sends no
/// notifications; one that joins later is woken by re-checks until the others have counted it (milliseconds after
/// its announcement, at most a second).
/// </para>
/// </summary>
public sealed partial class PostgresWakeupListener : BackgroundService
{
    /// <summary>How often the other servers' listeners are counted (the count also proves the connection alive).</summary>
    private static readonly TimeSpan CountEvery = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Other listening sessions of this database. A session whose name this role may not see (NULL; PostgreSQL 10–17
    /// show it to everyone) counts as a listener: when unsure, send.
    /// </summary>
    private const string CountSql =
        "SELECT count(*) FROM pg_stat_activity WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database()) " +
        "AND pid <> pg_backend_pid() AND (application_name = '" + PostgresChannels.ListenerApplicationName + "' OR application_name IS NULL)";

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly string _connectionString;
    private readonly WakeupHub _hub;
    private readonly ILogger<PostgresWakeupListener> _logger;
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>This server's wake-ups for the others: tells its own notifications apart, and learns whether to send.</summary>
    private readonly PostgresNotificationSender _sender;

    /// <summary>Set when another server announced itself: count again without waiting for the second to pass.</summary>
    private volatile bool _recount;

    private bool _countFailed;

    public PostgresWakeupListener(string connectionString, WakeupHub hub, PostgresNotificationSender sender,
        ILogger<PostgresWakeupListener> logger)
    {
        // Its own unpooled connection: it lives as long as the server, and a broken one must not go back to a pool.
        // Its name is how the other servers count it.
        _connectionString = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            ApplicationName = PostgresChannels.ListenerApplicationName,
        }.ConnectionString;
        _hub = hub;
        _sender = sender;
        _logger = logger;
    }

    /// <summary>Completes once the first LISTEN is in place (tests wait for it before committing work).</summary>
    public Task Listening => _listening.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        var lost = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var conn = new NpgsqlConnection(_connectionString);
                await conn.OpenAsync(stoppingToken);
                conn.Notification += OnNotification;
                await using (var listen = new NpgsqlCommand($"LISTEN {PostgresChannels.Ready}; LISTEN {PostgresChannels.Finished}; " +
                    $"LISTEN {PostgresChannels.Schedules}; LISTEN {PostgresChannels.Events}; LISTEN {PostgresChannels.Joined}", conn))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                // Listening first, then announced: a server that counts this one after the announcement sends to it.
                await CountOthersAsync(conn, stoppingToken);
                await using (var announce = new NpgsqlCommand($"NOTIFY {PostgresChannels.Joined}", conn))
                {
                    await announce.ExecuteNonQueryAsync(stoppingToken);
                }
                if (lost)
                {
                    LogReconnected();
                    lost = false;
                }
                backoff = TimeSpan.FromMilliseconds(250);
                _listening.TrySetResult();
                var counted = Stopwatch.StartNew();
                while (true)
                {
                    var untilCount = CountEvery - counted.Elapsed;
                    // WaitAsync takes whole milliseconds and reads 0 as "no timeout": less than 1 ms left counts now,
                    // or a lone server would wait for a notification that never comes and stop counting.
                    if (untilCount < TimeSpan.FromMilliseconds(1) || _recount)
                    {
                        _recount = false;
                        await CountOthersAsync(conn, stoppingToken);
                        counted.Restart();
                        untilCount = CountEvery;
                    }
                    await conn.WaitAsync(untilCount, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Unsure who listens while this server cannot count: send.
                _sender.OthersListening = true;
                if (!lost)
                {
                    LogConnectionLost(ex);
                    lost = true;
                }
                try
                {
                    await Task.Delay(backoff, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
            }
        }
    }

    /// <summary>Counts the other servers' listeners and tells the sender whether to send.</summary>
    private async Task CountOthersAsync(NpgsqlConnection conn, CancellationToken cancellationToken)
    {
        bool others;
        try
        {
            await using var count = new NpgsqlCommand(CountSql, conn);
            others = (long)(await count.ExecuteScalarAsync(cancellationToken))! > 0;
        }
        catch (PostgresException ex)
        {
            // The database refuses the count (a locked-down catalog): send, as a server without the count would.
            if (!_countFailed)
            {
                _countFailed = true;
                LogCountFailed(ex);
            }
            others = true;
        }
        if (others && !_sender.OthersListening)
        {
            LogOthersListening();
        }
        else if (!others && _sender.OthersListening)
        {
            LogAlone();
        }
        _sender.OthersListening = others;
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        if (e.Channel == PostgresChannels.Joined)
        {
            // Counted on the loop (a command cannot run inside this callback); its own announcement only counts again.
            _recount = true;
            return;
        }
        if (_sender.IsOwn(e.PID))
        {
            // This server's own commit: its waiters were woken in process, and waking them again would only send its
            // long-polls to claim what they already claimed.
            return;
        }
        switch (e.Channel)
        {
            case PostgresChannels.Ready:
                _hub.ActivitiesReady(e.Payload);
                break;
            case PostgresChannels.Finished:
                _hub.WorkflowFinished(e.Payload);
                break;
            case PostgresChannels.Schedules:
                _hub.SchedulesChanged();
                break;
        }
        // Every channel means another server committed events; event streams re-read the log.
        _hub.EventsAppended();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the PostgreSQL wake-up connection; reconnecting (waiters fall back to 1 s re-checks meanwhile)")]
    private partial void LogConnectionLost(Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "PostgreSQL wake-up connection re-established")]
    private partial void LogReconnected();

    [LoggerMessage(Level = LogLevel.Information, Message = "Another server listens on this database: sending it wake-ups after each commit")]
    private partial void LogOthersListening();

    [LoggerMessage(Level = LogLevel.Information, Message = "No other server listens on this database: wake-ups stay in this process")]
    private partial void LogAlone();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not count the other servers' listeners in pg_stat_activity; sending wake-ups always")]
    private partial void LogCountFailed(Exception exception);
}
