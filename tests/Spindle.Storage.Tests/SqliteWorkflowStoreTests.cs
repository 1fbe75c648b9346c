using Spindle.Core.Orchestration;
using Spindle.Storage.Sqlite;

namespace Spindle.Storage.Tests;

/// <summary>The behaviour suite on a real SQLite file.</summary>
public sealed class SqliteWorkflowStoreTests : WorkflowStoreBehaviour, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spindle-sqlite-").FullName;

    protected override Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new SqliteWorkflowStore(Path.Combine(_dir, "spindle.db"), defaults));

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A pooled handle may still be closing; the temp directory is cleaned by the OS eventually.
        }
    }
}
