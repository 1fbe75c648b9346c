using Npgsql;
using Spindle.Core.Common;
using Spindle.Server.Wakeups;
using Spindle.Storage.Postgres;

namespace Spindle.Server.Streams;

/// <summary>
/// The stream subscribers of every server of a PostgreSQL cluster. Each server keeps its counts in
/// <c>stream_subscribers</c> (one row per stream with subscribers: <c>events</c> for the workflow-event feed,
/// <c>activity:{id}</c> for an activity stream), rewritten when they change and refreshed by a heartbeat; rows of a
/// server that stopped without cleaning up expire. From it follow the cluster-wide count of an activity's subscribers
/// and the store's <see cref="PostgresWorkflowStore.NotifyEventStreams"/> flag: a commit sends the events notification
/// only while some server has event subscribers. The flag is a cached boolean on the commit path, refreshed when a
/// server's "has event subscribers" changes (<c>NOTIFY spindle_presence</c>) and at each heartbeat.
/// </summary>
public sealed partial class PostgresStreamPresence : BackgroundService, IStreamPresence
{
    public const string ChannelName = "spindle_presence";

    private const string EventsStream = "events";

    /// <summary>How often the rows are refreshed (and the flag re-read even without a notification).</summary>
    public static TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Rows not refreshed for this long are ignored (their server is gone).</summary>
    private static TimeSpan Expiry => Heartbeat * 3;

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _listenConnectionString;
    private readonly PostgresWorkflowStore _store;
    private readonly EventFeed _feed;
    private readonly ActivityStreamHub _hub;
    private readonly ILogger<PostgresStreamPresence> _logger;
    private readonly AsyncSignal _changed = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _clusterHasEventSubscribers;

    public PostgresStreamPresence(PostgresWorkflowStore store, EventFeed feed, ActivityStreamHub hub, ILogger<PostgresStreamPresence> logger)
    {
        _dataSource = store.DataSource;
        _listenConnectionString = new NpgsqlConnectionStringBuilder(store.ConnectionString) { Pooling = false, ApplicationName = "spindle-presence" }.ConnectionString;
        _store = store;
        _feed = feed;
        _hub = hub;
        _logger = logger;
        feed.SubscribersChanged = OnChanged;
        hub.SubscribersChanged = OnChanged;
    }

    public string ServerId { get; } = Guid.NewGuid().ToString("N");

    /// <summary>Completes once the presence listener listens (tests wait for it).</summary>
    public Task Listening => _listening.Task;

    public async Task<int> ActivitySubscribersAsync(string activityId, CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand(
            "SELECT COALESCE(SUM(subscribers), 0)::integer FROM stream_subscribers WHERE stream = $1 AND server_id <> $2 AND expires_at > $3");
        cmd.Parameters.AddWithValue("activity:" + activityId);
        cmd.Parameters.AddWithValue(ServerId);
        cmd.Parameters.AddWithValue(Timestamps.Now());
        var others = (int)(await cmd.ExecuteScalarAsync(cancellationToken))!;
        return others + _hub.SubscriberCount(activityId);
    }

    private void OnChanged()
    {
        // The commit path of this server knows its own subscribers at once; the others learn through the table.
        if (_feed.SubscriberCount > 0)
        {
            _store.NotifyEventStreams = true;
        }
        _changed.Pulse();
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.WhenAll(PublishLoopAsync(stoppingToken), ListenAsync(stoppingToken));

    /// <summary>Writes this server's counts whenever they change, and at every heartbeat.</summary>
    private async Task PublishLoopAsync(CancellationToken stoppingToken)
    {
        bool? published = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            var changed = _changed.Current;
            try
            {
                var hasEvents = _feed.SubscriberCount > 0;
                await WriteAsync(hasEvents, notify: published != hasEvents, stoppingToken);
                published = hasEvents;
                await RefreshFlagAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or IOException or TimeoutException)
            {
                LogPublishFailed(ex);
                // Unsure who listens: notify, as a server without this bookkeeping would.
                _store.NotifyEventStreams = true;
                published = null;
            }
            try
            {
                await Task.WhenAny(changed, Task.Delay(Heartbeat, stoppingToken));
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        try
        {
            using var cleanup = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await using var cmd = _dataSource.CreateCommand($"DELETE FROM stream_subscribers WHERE server_id = $1; SELECT pg_notify('{ChannelName}', '')");
            cmd.Parameters.AddWithValue(ServerId);
            await cmd.ExecuteNonQueryAsync(cleanup.Token);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or IOException or OperationCanceledException or TimeoutException)
        {
            // The rows expire on their own.
        }
    }

    private async Task WriteAsync(bool hasEvents, bool notify, CancellationToken cancellationToken)
    {
        var streams = new List<string>();
        var counts = new List<int>();
        if (hasEvents)
        {
            streams.Add(EventsStream);
            counts.Add(_feed.SubscriberCount);
        }
        foreach (var (activityId, count) in _hub.Subscribed())
        {
            streams.Add("activity:" + activityId);
            counts.Add(count);
        }
        var now = Timestamps.Now();
        await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(conn, tx);
        // Also drops the rows of servers gone for good.
        var delete = new NpgsqlBatchCommand("DELETE FROM stream_subscribers WHERE server_id = $1 OR expires_at <= $2");
        delete.Parameters.AddWithValue(ServerId);
        delete.Parameters.AddWithValue(now);
        batch.BatchCommands.Add(delete);
        if (streams.Count > 0)
        {
            var insert = new NpgsqlBatchCommand(
                "INSERT INTO stream_subscribers (server_id, stream, subscribers, expires_at) SELECT $1, x.s, x.c, $4 FROM unnest($2::text[], $3::integer[]) AS x(s, c)");
            insert.Parameters.AddWithValue(ServerId);
            insert.Parameters.AddWithValue(streams.ToArray());
            insert.Parameters.AddWithValue(counts.ToArray());
            insert.Parameters.AddWithValue(now + (long)Expiry.TotalMicroseconds);
            batch.BatchCommands.Add(insert);
        }
        if (notify)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT pg_notify('{ChannelName}', '')"));
        }
        await batch.ExecuteNonQueryAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    private async Task RefreshFlagAsync(CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand("SELECT EXISTS (SELECT 1 FROM stream_subscribers WHERE stream = $1 AND expires_at > $2)");
        cmd.Parameters.AddWithValue(EventsStream);
        cmd.Parameters.AddWithValue(Timestamps.Now());
        _clusterHasEventSubscribers = (bool)(await cmd.ExecuteScalarAsync(cancellationToken))!;
        _store.NotifyEventStreams = _clusterHasEventSubscribers || _feed.SubscriberCount > 0;
    }

    /// <summary>Re-reads the flag when any server's "has event subscribers" changes.</summary>
    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        var refresh = new AsyncSignal();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var conn = new NpgsqlConnection(_listenConnectionString);
                await conn.OpenAsync(stoppingToken);
                conn.Notification += (_, _) => refresh.Pulse();
                await using (var listen = new NpgsqlCommand($"LISTEN {ChannelName}", conn))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                backoff = TimeSpan.FromMilliseconds(250);
                _listening.TrySetResult();
                var pending = refresh.Current;
                await RefreshFlagAsync(stoppingToken);
                while (true)
                {
                    if (pending.IsCompleted)
                    {
                        pending = refresh.Current;
                        await RefreshFlagAsync(stoppingToken);
                    }
                    if (!await conn.WaitAsync(TimeSpan.FromSeconds(15), stoppingToken))
                    {
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
                LogListenFailed(ex);
                _store.NotifyEventStreams = true;
                try
                {
                    await Task.Delay(backoff, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                backoff = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(5).Ticks, backoff.Ticks * 2));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record this server's stream subscribers; sending event notifications meanwhile")]
    private partial void LogPublishFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the stream-presence LISTEN connection; reconnecting")]
    private partial void LogListenFailed(Exception exception);
}
