using Npgsql;

namespace Spindle.Storage.Postgres;

/// <summary>
/// Sends this server's wake-ups for other servers (<see cref="PostgresChannels"/>) after the data has committed, in
/// transactions of their own. PostgreSQL (up to 17 at least) serialises every committing transaction that has called
/// <c>pg_notify</c> on one global lock held through the commit's WAL flush, so a notification inside the data
/// transaction stops concurrent commits from sharing a flush: measured with pgbench on this project's machine, 2,700–3,300
/// commits/s with a notify in the transaction against 12,000–15,700 without. Here the notifications of all commits
/// that end while one send is under way are deduplicated and go out together in one asynchronous-commit transaction
/// (a notification needs no durability: it only wakes).
/// <para>
/// A notification is therefore sent a moment after its commit, never before it. If this process dies in between,
/// the other servers' waiters find the work by their fallback re-check (within a second), as when the listening
/// connection drops. The sends use one dedicated connection, so the listener of this same server can tell its own
/// notifications (<see cref="IsOwn"/>) from other servers' and skip them: this server's waiters were woken in process.
/// </para>
/// <para>
/// A server alone on its database sends nothing: its listener counts the other servers' listening sessions and keeps
/// <see cref="OthersListening"/> up to date, and while it is false <see cref="Enqueue"/> drops the wake-ups.
/// </para>
/// </summary>
public sealed class PostgresNotificationSender : IAsyncDisposable
{
    private const string SendSql =
        "SELECT pg_notify(n.channel, n.payload) FROM (SELECT set_config('synchronous_commit', 'off', true)) AS s, " +
        "unnest($1::text[], $2::text[]) AS n(channel, payload)";

    private readonly string _connectionString;
    private readonly object _gate = new();

    /// <summary>What is waiting for the next send, in arrival order, without repeats.</summary>
    private List<(string Channel, string Payload)> _pending = [];

    private HashSet<(string Channel, string Payload)> _pendingSet = [];

    /// <summary>The send under way (it takes whatever queued behind it before it ends), or null.</summary>
    private Task? _sending;

    private NpgsqlConnection? _connection;
    private volatile int _backendPid;
    private bool _disposed;
    private volatile bool _othersListening = true;
    private long _sentTransactions;

    public PostgresNotificationSender(string connectionString)
    {
        // Its own unpooled connection: its backend process id marks this server's notifications (IsOwn).
        _connectionString = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            ApplicationName = "spindle-notify",
        }.ConnectionString;
    }

    /// <summary>
    /// Whether another server listens on this database. While false the wake-ups are not sent: the only listener
    /// would be this server's own, which skips them. Kept by this server's listener (a count of the others' listening
    /// sessions, at most a second old); true until it is told otherwise, and whenever it is unsure.
    /// </summary>
    public bool OthersListening
    {
        get => _othersListening;
        set => _othersListening = value;
    }

    /// <summary>How many notification transactions have committed (tests watch a lone server send none).</summary>
    public long SentTransactions => Interlocked.Read(ref _sentTransactions);

    /// <summary>Whether a notification came from this sender (its backend process id, as the listener sees it).</summary>
    public bool IsOwn(int processId) => processId != 0 && processId == _backendPid;

    /// <summary>Queues one notification; it goes out with the next send (which starts now if none is under way).</summary>
    public void Enqueue(string channel, string payload)
    {
        if (!_othersListening)
        {
            return; // nobody else would receive it (see OthersListening)
        }
        lock (_gate)
        {
            if (_disposed || !_pendingSet.Add((channel, payload)))
            {
                return;
            }
            _pending.Add((channel, payload));
            _sending ??= Task.Run(SendLoopAsync);
        }
    }

    /// <summary>Completes once everything queued before the call has been sent (or dropped after a failure).</summary>
    public Task FlushAsync()
    {
        lock (_gate)
        {
            return _sending ?? Task.CompletedTask;
        }
    }

    private async Task SendLoopAsync()
    {
        var drained = false;
        try
        {
            while (true)
            {
                List<(string Channel, string Payload)> batch;
                lock (_gate)
                {
                    if (_pending.Count == 0)
                    {
                        _sending = null;
                        drained = true;
                        return;
                    }
                    batch = _pending;
                    _pending = [];
                    _pendingSet = [];
                }
                await SendAsync(batch);
            }
        }
        finally
        {
            if (!drained)
            {
                // A failure SendAsync does not expect must not leave a dead loop marked as running: the next Enqueue
                // starts a new one (and sends what is still queued).
                lock (_gate)
                {
                    _sending = null;
                }
            }
        }
    }

    private async Task SendAsync(List<(string Channel, string Payload)> batch)
    {
        try
        {
            if (_connection is null)
            {
                var connection = new NpgsqlConnection(_connectionString);
                await connection.OpenAsync();
                _connection = connection;
                _backendPid = connection.ProcessID;
            }
            await using var tx = await _connection.BeginTransactionAsync();
            await using (var cmd = new NpgsqlCommand(SendSql, _connection, tx))
            {
                cmd.Parameters.Add(PgParameters.TextArray([.. batch.Select(n => (string?)n.Channel)]));
                cmd.Parameters.Add(PgParameters.TextArray([.. batch.Select(n => (string?)n.Payload)]));
                await cmd.ExecuteNonQueryAsync();
            }
            await tx.CommitAsync();
            Interlocked.Increment(ref _sentTransactions);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException or ObjectDisposedException)
        {
            // The database is unreachable or restarting: these wake-ups are dropped (the receivers' fallback re-check
            // finds the work) and the next send opens a new connection.
            var broken = _connection;
            _connection = null;
            _backendPid = 0;
            if (broken is not null)
            {
                await broken.DisposeAsync();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task? sending;
        lock (_gate)
        {
            _disposed = true; // nothing new is queued; what already is still goes out
            sending = _sending;
        }
        if (sending is not null)
        {
            await sending; // what committed before shutdown still reaches the other servers
        }
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
    }
}
