using Npgsql;
using Spindle.Postgres;

namespace Spindle.Worker.Std;

/// <summary>
/// A small LRU cache of <see cref="NpgsqlDataSource"/> (one connection pool per database address: a libpq URL or an
/// Npgsql connection string, as given). An evicted
/// data source is disposed once the last activity using it has finished.
/// </summary>
public sealed class PostgresDataSourceCache : IAsyncDisposable, IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly int _capacity;
    private long _clock;
    private bool _disposed;

    public PostgresDataSourceCache(int capacity = 16)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
    }

    /// <summary>Number of cached data sources.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Opens a pooled connection for <paramref name="connectionString"/>.</summary>
    public async Task<PooledConnection> OpenConnectionAsync(string connectionString, CancellationToken cancellationToken)
    {
        Entry entry = Acquire(connectionString);
        try
        {
            NpgsqlConnection connection = await entry.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return new PooledConnection(this, entry, connection);
        }
        catch
        {
            await ReleaseAsync(entry).ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Entry[] entries;
        lock (_lock)
        {
            _disposed = true;
            entries = [.. _entries.Values];
            _entries.Clear();
            foreach (Entry entry in entries)
            {
                entry.Evicted = true;
            }

            entries = [.. entries.Where(e => e.TryMarkDisposed())];
        }

        foreach (Entry entry in entries)
        {
            await entry.DataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private Entry Acquire(string connectionString)
    {
        Entry? toDispose = null;
        Entry entry;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_entries.TryGetValue(connectionString, out entry!))
            {
                NpgsqlDataSourceBuilder builder;
                try
                {
                    builder = new NpgsqlDataSourceBuilder(PostgresUrl.Parse(connectionString).ConnectionString);
                }
                catch (Exception ex) when (ex is ArgumentException or FormatException)
                {
                    throw new ActivityFailureException(ErrorCodes.InvalidParameters, $"invalid db_url (postgres://user:password@host:port/database or an Npgsql connection string): {ex.Message}", retryable: false, ex);
                }

                var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = builder.ConnectionString };
                if (string.IsNullOrEmpty(builder.ConnectionStringBuilder.ApplicationName))
                {
                    builder.ConnectionStringBuilder.ApplicationName = "spindle-std";
                }

                // Error DETAIL (e.g. "Key (id)=(1) already exists") goes into the failure message unless the
                // address says otherwise.
                if (!given.ContainsKey("Include Error Detail"))
                {
                    builder.ConnectionStringBuilder.IncludeErrorDetail = true;
                }

                entry = new Entry(builder.Build());
                _entries[connectionString] = entry;
                if (_entries.Count > _capacity)
                {
                    KeyValuePair<string, Entry> oldest = _entries.Where(e => e.Value != entry).MinBy(e => e.Value.LastUsed);
                    _entries.Remove(oldest.Key);
                    oldest.Value.Evicted = true;
                    toDispose = oldest.Value.TryMarkDisposed() ? oldest.Value : null;
                }
            }

            entry.LastUsed = ++_clock;
            entry.Users++;
        }

        if (toDispose is not null)
        {
            _ = toDispose.DataSource.DisposeAsync().AsTask();
        }

        return entry;
    }

    private async ValueTask ReleaseAsync(Entry entry)
    {
        bool dispose;
        lock (_lock)
        {
            entry.Users--;
            dispose = entry.TryMarkDisposed();
        }

        if (dispose)
        {
            await entry.DataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal sealed class Entry(NpgsqlDataSource dataSource)
    {
        private int _disposed;

        public NpgsqlDataSource DataSource { get; } = dataSource;

        public long LastUsed { get; set; }

        public int Users { get; set; }

        public bool Evicted { get; set; }

        /// <summary>True once, when the entry is evicted and unused: the caller disposes the data source. Call under the cache lock.</summary>
        public bool TryMarkDisposed() => Evicted && Users == 0 && Interlocked.Exchange(ref _disposed, 1) == 0;
    }

    /// <summary>An open connection; disposing it returns it to the pool.</summary>
    public sealed class PooledConnection : IAsyncDisposable
    {
        private readonly PostgresDataSourceCache _owner;
        private readonly Entry _entry;
        private int _disposed;

        internal PooledConnection(PostgresDataSourceCache owner, Entry entry, NpgsqlConnection connection)
        {
            _owner = owner;
            _entry = entry;
            Connection = connection;
        }

        public NpgsqlConnection Connection { get; }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await Connection.DisposeAsync().ConfigureAwait(false);
                await _owner.ReleaseAsync(_entry).ConfigureAwait(false);
            }
        }
    }
}
