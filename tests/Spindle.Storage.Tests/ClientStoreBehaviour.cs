using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;

namespace Spindle.Storage.Tests;

/// <summary>OAuth client storage, the same on both backends.</summary>
public abstract class ClientStoreBehaviour : IAsyncLifetime
{
    private IWorkflowStore _store = null!;

    protected IClientStore Clients { get; private set; } = null!;

    protected abstract Task<(IWorkflowStore Store, IClientStore Clients)> CreateAsync();

    public async Task InitializeAsync()
    {
        (_store, Clients) = await CreateAsync();
        await _store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    [Fact]
    public async Task CreateClient_ThenGetAndList_RoundTripsAndRejectsDuplicates()
    {
        var client = new OAuthClient("cl_1", "ingest workers", "hash", ["worker", "workflows"], 123, null);
        Assert.True(await Clients.CreateClientAsync(client, CancellationToken.None));
        Assert.False(await Clients.CreateClientAsync(client with { Name = "other" }, CancellationToken.None));
        var stored = await Clients.GetClientAsync("cl_1", CancellationToken.None);
        Assert.NotNull(stored);
        Assert.Equal("ingest workers", stored.Name);
        Assert.Equal(["worker", "workflows"], stored.Scopes);
        Assert.True(stored.IsActive);
        Assert.Single(await Clients.ListClientsAsync(CancellationToken.None));
        Assert.Null(await Clients.GetClientAsync("missing", CancellationToken.None));
    }

    [Fact]
    public async Task RevokeClient_Existing_MarkedRevokedAndListed()
    {
        await Clients.CreateClientAsync(new OAuthClient("cl_2", "x", "hash", ["admin"], 1, null), CancellationToken.None);
        Assert.True(await Clients.RevokeClientAsync("cl_2", 99, CancellationToken.None));
        Assert.False(await Clients.RevokeClientAsync("nobody", 99, CancellationToken.None));
        Assert.Equal(99, (await Clients.GetClientAsync("cl_2", CancellationToken.None))!.RevokedAt);
        Assert.Equal(["cl_2"], await Clients.ListRevokedClientIdsAsync(CancellationToken.None));
        await Clients.UpdateSecretAsync("cl_2", "new-hash", CancellationToken.None);
        Assert.Equal("new-hash", (await Clients.GetClientAsync("cl_2", CancellationToken.None))!.SecretHash);
    }
}

public sealed class SqliteClientStoreTests : ClientStoreBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-clients-");

    protected override Task<(IWorkflowStore Store, IClientStore Clients)> CreateAsync()
    {
        var path = _dir.DatabasePath;
        return Task.FromResult<(IWorkflowStore, IClientStore)>((new SqliteWorkflowStore(path, new EngineDefaults()), new SqliteClientStore(path)));
    }

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresClientStoreTests(PostgresFixture postgres) : ClientStoreBehaviour
{
    protected override async Task<(IWorkflowStore Store, IClientStore Clients)> CreateAsync()
    {
        var store = new PostgresWorkflowStore(await postgres.CreateDatabaseAsync(), new EngineDefaults());
        return (store, new PostgresClientStore(store.DataSource));
    }
}
