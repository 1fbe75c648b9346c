using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.TestSupport;

namespace Spindle.Storage.Tests;

/// <summary>The behaviour suite on a real PostgreSQL server, in a fresh database per test.</summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresWorkflowStoreTests(PostgresFixture postgres) : WorkflowStoreBehaviour
{
    protected override async Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        new PostgresWorkflowStore(await postgres.CreateDatabaseAsync(), defaults);
}
