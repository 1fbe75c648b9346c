using Spindle.Core.Orchestration;
using Spindle.Storage.Sqlite;

namespace Spindle.Storage.Tests;

/// <summary>The behaviour suite on a real SQLite file.</summary>
public sealed class SqliteWorkflowStoreTests : WorkflowStoreBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-sqlite-");

    protected override Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new SqliteWorkflowStore(_dir.DatabasePath, defaults));

    protected override Task<IWorkflowStore> ReopenStoreAsync(EngineDefaults defaults) => CreateStoreAsync(defaults);

    public void Dispose() => _dir.Dispose();
}
