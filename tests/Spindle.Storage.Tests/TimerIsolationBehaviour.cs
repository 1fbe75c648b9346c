using Microsoft.Data.Sqlite;
using Npgsql;
using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>
/// One workflow whose timers cannot be handled (its stored row no longer loads) must not stop the timers of the
/// others: it is skipped and recorded, and every other deadline and lease expiry still fires.
/// </summary>
public abstract class TimerIsolationBehaviour : IAsyncLifetime
{
    private const string Both = """
        name: both
        settings: {timeout: 1}
        activities:
          - {key: slow, activity_name: echo, settings: {timeout_seconds: 1}}
        """;

    private const string ShortLease = """
        name: short_lease
        activities:
          - {key: slow, activity_name: echo, settings: {timeout_seconds: 1}}
        """;

    private const string Tight = """
        name: tight
        settings: {timeout: 1}
        activities:
          - {key: a, activity_name: echo, worker: nobody}
        """;

    protected IWorkflowStore Store { get; private set; } = null!;

    protected abstract Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults);

    /// <summary>Runs a statement on the store's database directly, behind the store's back.</summary>
    protected abstract Task ExecuteSqlAsync(string sql);

    public async Task InitializeAsync()
    {
        Store = await CreateStoreAsync(new EngineDefaults { ActivityTimeoutSeconds = 60, WorkflowTimeoutSeconds = 300, MaxRetries = 3 });
        await Store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await Store.DisposeAsync();

    [Fact]
    public async Task RunTimers_OneWorkflowUnreadable_OtherDeadlinesAndLeasesStillFire()
    {
        var bad = await DeployAndSubmitAsync(Store, Both);
        await ClaimOneAsync(Store, "slow", "w1");
        var leased = await DeployAndSubmitAsync(Store, ShortLease);
        var leasedClaim = await ClaimOneAsync(Store, "slow", "w1");
        var deadline = await DeployAndSubmitAsync(Store, Tight);
        // Valid JSON, but deeper than any reader of the store accepts: the row loads no more, as rows did that
        // held a document accepted before the depth limit existed.
        var tooDeep = new string('[', 300) + new string(']', 300);
        await ExecuteSqlAsync($"UPDATE workflows SET input = '{tooDeep}' WHERE id = '{bad}'");
        await Assert.ThrowsAnyAsync<Exception>(() => Store.GetWorkflowAsync(bad, CancellationToken.None));
        await Task.Delay(1200);

        var outcome = await Store.RunTimersAsync(CancellationToken.None);

        Assert.Equal(1, outcome.ExpiredLeases);
        Assert.Equal(1, outcome.Deadlines);
        Assert.Equal(["deadline", "lease_expiry"], outcome.Failures.Select(f => f.Timer).Order());
        Assert.All(outcome.Failures, f => Assert.Equal(bad, f.WorkflowId));
        Assert.All(outcome.Failures, f => Assert.True(f.FirstReport));
        Assert.Equal(WorkflowStatus.Failed, await Store.GetWorkflowStatusAsync(deadline, CancellationToken.None));
        var again = await ClaimOneAsync(Store, "slow", "w2");
        Assert.Equal(leasedClaim.ActivityId, again.ActivityId);
        Assert.Equal(2, again.Attempt);
        Assert.Equal(leased, again.WorkflowId);

        var recorded = await TimerFailedEventsAsync(bad);
        Assert.Equal(["deadline", "lease_expiry"], recorded.Select(e => e.Payload["timer"]!.GetValue<string>()).Order());
        Assert.Equal("slow", recorded.Single(e => e.Payload["timer"]!.GetValue<string>() == "lease_expiry").ActivityKey);

        // Still failing on the next pass: skipped again, but recorded only once.
        var next = await Store.RunTimersAsync(CancellationToken.None);
        Assert.Equal(2, next.Failures.Count);
        Assert.All(next.Failures, f => Assert.False(f.FirstReport));
        Assert.Equal(2, (await TimerFailedEventsAsync(bad)).Count);
    }

    private async Task<IReadOnlyList<StoredEvent>> TimerFailedEventsAsync(string workflowId)
    {
        var page = await Store.GetEventsAsync(workflowId, null, 100, new HashSet<string> { EventTypes.TimerFailed }, CancellationToken.None);
        return page!.Events;
    }
}

public sealed class SqliteTimerIsolationTests : TimerIsolationBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-timers-");

    protected override Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new SqliteWorkflowStore(_dir.DatabasePath, defaults));

    protected override async Task ExecuteSqlAsync(string sql)
    {
        await using var conn = new SqliteConnection($"Data Source={_dir.DatabasePath}");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
    }

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresTimerIsolationTests(PostgresFixture postgres) : TimerIsolationBehaviour
{
    private string _connectionString = "";

    protected override async Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults)
    {
        _connectionString = await postgres.CreateDatabaseAsync();
        return new PostgresWorkflowStore(_connectionString, defaults);
    }

    protected override async Task ExecuteSqlAsync(string sql)
    {
        await using var conn = new NpgsqlConnection(_connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
    }
}
