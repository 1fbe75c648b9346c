using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Npgsql;

namespace Spindle.Server.Streams;

/// <summary>
/// Carries activity-stream frames between the servers of a PostgreSQL cluster with <c>NOTIFY</c> on one channel, so
/// a subscriber gets the frames whatever server the worker posts to. Frames queued while a notification is being sent
/// go out together in the next one, kept under PostgreSQL's 8000-byte payload limit; a frame too big for one payload
/// is sent in numbered parts and reassembled. One session sends, so frames arrive in the order they were published.
/// </summary>
public sealed partial class PostgresStreamRelay : BackgroundService
{
    public const string ChannelName = "spindle_stream";

    /// <summary>Payload budget in bytes (the server's limit is 8000, including the prefix).</summary>
    private const int Budget = 7000;

    /// <summary>Characters per part of an oversized batch: at most 3 UTF-8 bytes each, so well under the budget.</summary>
    private const int PartChars = 2000;

    private readonly string _connectionString;
    private readonly ActivityStreamHub _hub;
    private readonly ILogger<PostgresStreamRelay> _logger;
    private readonly string _origin = Guid.NewGuid().ToString("N");
    private readonly Channel<JsonArray> _outgoing = Channel.CreateUnbounded<JsonArray>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, string?[]> _parts = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PostgresStreamRelay(string connectionString, ActivityStreamHub hub, ILogger<PostgresStreamRelay> logger)
    {
        _connectionString = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "spindle-streams" }.ConnectionString;
        _hub = hub;
        _logger = logger;
        hub.Relay = (activityId, frame, terminal) => _outgoing.Writer.TryWrite(new JsonArray(activityId, frame, terminal));
    }

    /// <summary>Completes once the relay listens (tests wait for it).</summary>
    public Task Listening => _listening.Task;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ListenAsync(stoppingToken), SendAsync(stoppingToken));

    private async Task SendAsync(CancellationToken stoppingToken)
    {
        NpgsqlConnection? conn = null;
        try
        {
            while (await _outgoing.Reader.WaitToReadAsync(stoppingToken))
            {
                var batch = new JsonArray();
                var size = 0;
                while (size < Budget && _outgoing.Reader.TryPeek(out var next))
                {
                    var length = Encoding.UTF8.GetByteCount(next.ToJsonString());
                    if (batch.Count > 0 && size + length > Budget)
                    {
                        break;
                    }
                    _outgoing.Reader.TryRead(out _);
                    batch.Add(next);
                    size += length;
                }
                try
                {
                    if (conn is null)
                    {
                        conn = new NpgsqlConnection(_connectionString);
                        await conn.OpenAsync(stoppingToken);
                    }
                    foreach (var payload in Payloads(batch.ToJsonString()))
                    {
                        await using var cmd = new NpgsqlCommand("SELECT pg_notify($1, $2)", conn);
                        cmd.Parameters.AddWithValue(ChannelName);
                        cmd.Parameters.AddWithValue(payload);
                        await cmd.ExecuteNonQueryAsync(stoppingToken);
                    }
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or IOException)
                {
                    // Frames of this batch reach this server's subscribers but not the others'; the next batch reconnects.
                    LogSendFailed(ex);
                    if (conn is not null)
                    {
                        await conn.DisposeAsync();
                    }
                    conn = null;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (conn is not null)
            {
                await conn.DisposeAsync();
            }
        }
    }

    /// <summary><c>B|origin|batch</c>, or <c>P|origin|id|i|n|piece</c> for each part of a batch over the budget.</summary>
    private IEnumerable<string> Payloads(string batch)
    {
        if (Encoding.UTF8.GetByteCount(batch) + 40 <= Budget)
        {
            yield return $"B|{_origin}|{batch}";
            yield break;
        }
        var pieces = new List<string>();
        for (var at = 0; at < batch.Length;)
        {
            var length = Math.Min(PartChars, batch.Length - at);
            if (at + length < batch.Length && char.IsHighSurrogate(batch[at + length - 1]))
            {
                length--; // never split a surrogate pair
            }
            pieces.Add(batch.Substring(at, length));
            at += length;
        }
        var id = Guid.NewGuid().ToString("N");
        for (var i = 0; i < pieces.Count; i++)
        {
            yield return string.Create(CultureInfo.InvariantCulture, $"P|{_origin}|{id}|{i}|{pieces.Count}|{pieces[i]}");
        }
    }

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var conn = new NpgsqlConnection(_connectionString);
                await conn.OpenAsync(stoppingToken);
                conn.Notification += OnNotification;
                await using (var listen = new NpgsqlCommand($"LISTEN {ChannelName}", conn))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                backoff = TimeSpan.FromMilliseconds(250);
                _listening.TrySetResult();
                while (true)
                {
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

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        try
        {
            var fields = e.Payload.Split('|', 3);
            if (fields.Length < 3 || fields[1] == _origin)
            {
                return; // our own frames are already here
            }
            if (fields[0] == "B")
            {
                Apply(fields[2]);
                return;
            }
            var part = fields[2].Split('|', 4);
            var (id, index, count) = (part[0], int.Parse(part[1], CultureInfo.InvariantCulture), int.Parse(part[2], CultureInfo.InvariantCulture));
            var pieces = _parts.GetOrAdd(id, _ => new string?[count]);
            pieces[index] = part[3];
            if (index == count - 1 && pieces.All(p => p is not null))
            {
                // Parts of one batch come from one session in order: the last one completes it.
                _parts.TryRemove(id, out _);
                Apply(string.Concat(pieces));
            }
        }
        catch (Exception ex) when (ex is FormatException or IndexOutOfRangeException or System.Text.Json.JsonException)
        {
            LogBadPayload(ex);
        }
    }

    private void Apply(string batch)
    {
        foreach (var item in JsonNode.Parse(batch)!.AsArray())
        {
            _hub.Apply(item![0]!.GetValue<string>(), item[1]!.GetValue<string>(), item[2]!.GetValue<bool>());
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not relay activity-stream frames to the other servers")]
    private partial void LogSendFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the activity-stream LISTEN connection; reconnecting")]
    private partial void LogListenFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a malformed activity-stream notification")]
    private partial void LogBadPayload(Exception exception);
}
