using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.TestSupport;

namespace Spindle.Storage.Tests;

/// <summary>The behaviour suite on a real PostgreSQL server, in a fresh database per test.</summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresWorkflowStoreTests(PostgresFixture postgres) : WorkflowStoreBehaviour
{
    private string? _connectionString;

    protected override async Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        new PostgresWorkflowStore(_connectionString = await postgres.CreateDatabaseAsync(), defaults);

    protected override Task<IWorkflowStore> ReopenStoreAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new PostgresWorkflowStore(_connectionString!, defaults));
}
