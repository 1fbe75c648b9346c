using Npgsql;
using Spindle.Storage.Postgres;

namespace Spindle.Server.Wakeups;

/// <summary>
/// Wakes this server's long-polls and <c>?wait_seconds=</c> waiters when another server commits work on
/// the shared PostgreSQL database: one dedicated <c>LISTEN</c> connection feeding <see cref="WakeupHub"/>. When the
/// connection drops (a database restart, a network cut) it reconnects on its own with backoff; wake-ups missed
/// meanwhile are covered by the waiters' slow fallback re-check.
/// </summary>
public sealed partial class PostgresWakeupListener : BackgroundService
{
    /// <summary>How long to wait for a notification before checking that the connection is still alive.</summary>
    private static readonly TimeSpan AliveCheck = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly string _connectionString;
    private readonly WakeupHub _hub;
    private readonly ILogger<PostgresWakeupListener> _logger;
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Whether a notification was sent by this server (its waiters were already woken in process).</summary>
    private readonly Func<int, bool> _isOwn;

    public PostgresWakeupListener(string connectionString, WakeupHub hub, ILogger<PostgresWakeupListener> logger,
        Func<int, bool>? isOwn = null)
    {
        _isOwn = isOwn ?? (_ => false);
        // Its own unpooled connection: it lives as long as the server, and a broken one must not go back to a pool.
        _connectionString = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "spindle-listener" }.ConnectionString;
        _hub = hub;
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
                await using (var listen = new NpgsqlCommand($"LISTEN {PostgresChannels.Ready}; LISTEN {PostgresChannels.Finished}; LISTEN {PostgresChannels.Schedules}; LISTEN {PostgresChannels.Events}", conn))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                if (lost)
                {
                    LogReconnected();
                    lost = false;
                }
                backoff = TimeSpan.FromMilliseconds(250);
                _listening.TrySetResult();
                while (true)
                {
                    if (!await conn.WaitAsync(AliveCheck, stoppingToken))
                    {
                        // Nothing arrived for a while: make sure the socket is still alive rather than silently deaf.
                        await using var ping = new NpgsqlCommand("SELECT 1", conn);
                        await ping.ExecuteScalarAsync(stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
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

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        if (_isOwn(e.PID))
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
}
