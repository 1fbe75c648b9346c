using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;

namespace Spindle.Storage.Tests;

/// <summary>One-time codes (stream tickets, sign-in codes), the same on both backends: taken once, never late.</summary>
public abstract class OneTimeCodeStoreBehaviour : IAsyncLifetime
{
    private const long Now = 1_800_000_000_000;
    private IWorkflowStore _store = null!;

    /// <summary>Two stores on one database, as two servers of a cluster have (on SQLite: two on one file).</summary>
    protected IOneTimeCodeStore First { get; private set; } = null!;

    protected IOneTimeCodeStore Second { get; private set; } = null!;

    protected abstract Task<(IWorkflowStore Store, IOneTimeCodeStore First, IOneTimeCodeStore Second)> CreateAsync();

    public async Task InitializeAsync()
    {
        (_store, First, Second) = await CreateAsync();
        await _store.MigrateAsync(CancellationToken.None);
    }

    public virtual async Task DisposeAsync() => await _store.DisposeAsync();

    private static OneTimeCode Ticket(string client, long expiresAt = Now + 60_000) =>
        new("stream-ticket", client, ["workflows"], Now, expiresAt);

    [Fact]
    public async Task Take_CodeAddedThroughAnotherStore_GrantsItOnceWithItsScopes()
    {
        var code = new OneTimeCode("ui-sign-in", "cl_admin", ["admin", "workflows"], Now, Now + 300_000);
        Assert.True(await First.AddAsync("h1", code, Now, 10, CancellationToken.None));

        var taken = await Second.TakeAsync("h1", "ui-sign-in", Now + 1, CancellationToken.None);
        var again = await First.TakeAsync("h1", "ui-sign-in", Now + 2, CancellationToken.None);

        Assert.NotNull(taken);
        Assert.Equal("cl_admin", taken.ClientId);
        Assert.Equal(["admin", "workflows"], taken.Scopes);
        Assert.Equal(Now, taken.IssuedAtMs);
        Assert.Equal(Now + 300_000, taken.ExpiresAtMs);
        Assert.Null(again);
    }

    [Fact]
    public async Task Take_ExpiredUnknownOrOtherKind_ReturnsNullAndLeavesAnotherKindsCode()
    {
        Assert.True(await First.AddAsync("late", Ticket("cl_1", expiresAt: Now + 1_000), Now, 10, CancellationToken.None));
        Assert.True(await First.AddAsync("kept", Ticket("cl_1"), Now, 10, CancellationToken.None));

        Assert.Null(await First.TakeAsync("late", "stream-ticket", Now + 1_000, CancellationToken.None));
        Assert.Null(await First.TakeAsync("unknown", "stream-ticket", Now, CancellationToken.None));
        Assert.Null(await First.TakeAsync("kept", "ui-sign-in", Now, CancellationToken.None));
        Assert.NotNull(await Second.TakeAsync("kept", "stream-ticket", Now, CancellationToken.None));
    }

    [Fact]
    public async Task Add_ClientAtItsLimit_IsRefusedUntilOneIsTakenOrExpires()
    {
        Assert.True(await First.AddAsync("a", Ticket("cl_busy", expiresAt: Now + 1_000), Now, 2, CancellationToken.None));
        Assert.True(await Second.AddAsync("b", Ticket("cl_busy"), Now, 2, CancellationToken.None));

        var third = await First.AddAsync("c", Ticket("cl_busy"), Now, 2, CancellationToken.None);
        var otherClient = await First.AddAsync("d", Ticket("cl_other"), Now, 2, CancellationToken.None);
        var otherKind = await First.AddAsync("e", Ticket("cl_busy") with { Kind = "ui-sign-in" }, Now, 2, CancellationToken.None);
        var afterExpiry = await Second.AddAsync("f", Ticket("cl_busy", expiresAt: Now + 61_000), Now + 1_000, 2, CancellationToken.None);
        await First.TakeAsync("b", "stream-ticket", Now + 1_000, CancellationToken.None);
        var afterTake = await First.AddAsync("g", Ticket("cl_busy", expiresAt: Now + 61_000), Now + 1_000, 2, CancellationToken.None);
        var overAgain = await First.AddAsync("h", Ticket("cl_busy", expiresAt: Now + 61_000), Now + 1_000, 2, CancellationToken.None);

        Assert.False(third);
        Assert.True(otherClient);
        Assert.True(otherKind);
        Assert.True(afterExpiry);
        Assert.True(afterTake);
        Assert.False(overAgain);
    }

    [Fact]
    public async Task Take_ManyRedeemersAtOnce_ExactlyOneGetsTheCode()
    {
        Assert.True(await First.AddAsync("race", Ticket("cl_1"), Now, 10, CancellationToken.None));

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Task.Run(() => (i % 2 == 0 ? First : Second).TakeAsync("race", "stream-ticket", Now, CancellationToken.None))));

        Assert.Single(results, r => r is not null);
    }
}

public sealed class SqliteOneTimeCodeStoreTests : OneTimeCodeStoreBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-codes-");

    protected override Task<(IWorkflowStore Store, IOneTimeCodeStore First, IOneTimeCodeStore Second)> CreateAsync()
    {
        var path = _dir.DatabasePath;
        return Task.FromResult<(IWorkflowStore, IOneTimeCodeStore, IOneTimeCodeStore)>(
            (new SqliteWorkflowStore(path, new EngineDefaults()), new SqliteOneTimeCodeStore(path), new SqliteOneTimeCodeStore(path)));
    }

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresOneTimeCodeStoreTests(PostgresFixture postgres) : OneTimeCodeStoreBehaviour
{
    protected override async Task<(IWorkflowStore Store, IOneTimeCodeStore First, IOneTimeCodeStore Second)> CreateAsync()
    {
        var url = await postgres.CreateDatabaseAsync();
        var store = new PostgresWorkflowStore(url, new EngineDefaults());
        // A second data source: another server's connection pool on the same database.
        _other = Npgsql.NpgsqlDataSource.Create(PostgresConnectionStrings.FromDatabaseUrl(url));
        return (store, new PostgresOneTimeCodeStore(store.DataSource), new PostgresOneTimeCodeStore(_other));
    }

    private Npgsql.NpgsqlDataSource? _other;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_other is not null)
        {
            await _other.DisposeAsync();
        }
    }
}
