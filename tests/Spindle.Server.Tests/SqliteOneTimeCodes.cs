using Spindle.Core.Orchestration;
using Spindle.Storage;
using Spindle.Storage.Sqlite;

namespace Spindle.Server.Tests;

/// <summary>A migrated SQLite file in a temporary directory, for tests of one-time codes without a server.</summary>
public sealed class SqliteOneTimeCodes : IAsyncDisposable
{
    private readonly string _dir;
    private readonly SqliteWorkflowStore _store;

    private SqliteOneTimeCodes(string dir, SqliteWorkflowStore store, IOneTimeCodeStore codes)
    {
        _dir = dir;
        _store = store;
        Codes = codes;
    }

    public IOneTimeCodeStore Codes { get; }

    public static async Task<SqliteOneTimeCodes> CreateAsync()
    {
        var dir = Directory.CreateTempSubdirectory("spindle-codes-").FullName;
        var path = Path.Combine(dir, "spindle.db");
        var store = new SqliteWorkflowStore(path, new EngineDefaults());
        await store.MigrateAsync(CancellationToken.None);
        return new SqliteOneTimeCodes(dir, store, new SqliteOneTimeCodeStore(path));
    }

    public async ValueTask DisposeAsync()
    {
        await _store.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}
