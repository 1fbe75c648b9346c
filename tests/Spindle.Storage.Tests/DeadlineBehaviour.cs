using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>
/// Workflow deadlines (docs/workflow-format.md, Retries, leases and the deadline) on both backends, on a fake clock so hours pass in no time: none unless
/// <c>settings.timeout</c> or the server's default asks for one, and a failure message that names the limit.
/// </summary>
public abstract class DeadlineBehaviour : IAsyncLifetime
{
    private readonly List<IWorkflowStore> _stores = [];

    protected FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    protected abstract Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
    }

    private async Task<IWorkflowStore> StoreAsync(int defaultWorkflowTimeoutSeconds = 0)
    {
        var store = await CreateStoreAsync(new EngineDefaults { WorkflowTimeoutSeconds = defaultWorkflowTimeoutSeconds, Clock = Clock });
        _stores.Add(store);
        await store.MigrateAsync(CancellationToken.None);
        return store;
    }

    private static string ApprovalGate() =>
        File.ReadAllText(Path.Combine(RepositoryRoot(), "tests", "compat", "definitions", "approval-gate.yaml"));

    [Fact]
    public async Task ApprovalGate_SignalledAfterSixHours_CompletesWithoutAnImplicitDeadline()
    {
        var store = await StoreAsync();
        var id = await DeployAndSubmitAsync(store, ApprovalGate(), new JsonObject { ["document"] = "q3-report" });
        await CompleteAsync(store, await ClaimOneAsync(store, "prepare"));
        var waiting = await store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(ActivityStatus.Waiting, waiting!.Activities["approve"].Status);
        Assert.Null(waiting.DeadlineAt);

        // Far past the old implicit 300 s limit, well inside the gate's own day.
        Clock.Advance(TimeSpan.FromHours(6));
        var timers = await store.RunTimersAsync(CancellationToken.None);
        Assert.Equal(0, timers.Deadlines);
        Assert.Equal(0, timers.SignalTimeouts);
        Assert.Equal(WorkflowStatus.Running, await store.GetWorkflowStatusAsync(id, CancellationToken.None));

        var signal = await store.SignalAsync(new SignalCommand(id, "approve", "approval", new JsonObject { ["approved"] = true, ["reviewer"] = "ana" }),
            CancellationToken.None);
        Assert.Equal(["approve"], signal.SignaledActivities);
        var approve = await ClaimOneAsync(store, "approve");
        Assert.Equal("ana", approve.SignalData!["reviewer"]!.GetValue<string>());
        await CompleteAsync(store, approve);
        await CompleteAsync(store, await ClaimOneAsync(store, "publish"));
        Assert.Equal(WorkflowStatus.Completed, await store.GetWorkflowStatusAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task ApprovalGate_UnansweredForADay_FailsOnTheSignalTimeoutNotADeadline()
    {
        var store = await StoreAsync();
        var id = await DeployAndSubmitAsync(store, ApprovalGate(), new JsonObject { ["document"] = "q3-report" });
        await CompleteAsync(store, await ClaimOneAsync(store, "prepare"));
        Clock.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));
        var timers = await store.RunTimersAsync(CancellationToken.None);
        Assert.Equal(1, timers.SignalTimeouts);
        var wf = await store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, wf!.Status);
        Assert.Equal(ActivityStatus.Failed, wf.Activities["approve"].Status);
        Assert.Equal("SIGNAL_TIMEOUT", wf.Activities["approve"].ErrorCode);
    }

    [Fact]
    public async Task DefaultWorkflowTimeout_WhenSet_FailsTheGateAndNamesTheServerOption()
    {
        var store = await StoreAsync(defaultWorkflowTimeoutSeconds: 30 * 60);
        var id = await DeployAndSubmitAsync(store, ApprovalGate(), new JsonObject { ["document"] = "q3-report" });
        await CompleteAsync(store, await ClaimOneAsync(store, "prepare"));

        Clock.Advance(TimeSpan.FromMinutes(29));
        Assert.Equal(0, (await store.RunTimersAsync(CancellationToken.None)).Deadlines);
        Clock.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        Assert.Equal(1, (await store.RunTimersAsync(CancellationToken.None)).Deadlines);

        var wf = await store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, wf!.Status);
        Assert.Equal("workflow exceeded its timeout of 30m (server option --default-workflow-timeout)", wf.ErrorMessage);
        Assert.Equal(ActivityStatus.Cancelled, wf.Activities["approve"].Status);
    }

    [Fact]
    public async Task SettingsTimeout_WinsOverTheServerDefault_AndBlamesNoWorkerThatPolled()
    {
        const string delayed = """
            name: reminder
            settings: {timeout: 300}
            activities:
              - {key: remind, activity_name: echo, settings: {delay: 10m}}
            """;
        var store = await StoreAsync(defaultWorkflowTimeoutSeconds: 3600);
        var id = await DeployAndSubmitAsync(store, delayed);
        Assert.Empty(await ClaimAsync(store, "w1")); // a std worker is polling; the step is only delayed

        Clock.Advance(TimeSpan.FromSeconds(301));
        Assert.Equal(1, (await store.RunTimersAsync(CancellationToken.None)).Deadlines);
        var wf = await store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, wf!.Status);
        Assert.Equal("workflow exceeded its timeout of 5m (settings.timeout)", wf.ErrorMessage);
    }

    [Fact]
    public async Task SettingsTimeout_ReadyWorkNoWorkerPolledFor_SaysSoAndNamesTheRoutingKey()
    {
        const string orphan = """
            name: orphan
            settings: {timeout: 90}
            activities:
              - {key: a, activity_name: echo, worker: gpu}
            """;
        var store = await StoreAsync();
        var id = await DeployAndSubmitAsync(store, orphan);
        Assert.Empty(await ClaimAsync(store, "w1")); // std polls; nobody polls for "gpu"

        Clock.Advance(TimeSpan.FromSeconds(91));
        Assert.Equal(1, (await store.RunTimersAsync(CancellationToken.None)).Deadlines);
        var wf = await store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.StartsWith("workflow exceeded its timeout of 1m30s (settings.timeout); 1 queued activities were never claimed",
            wf!.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("(worker: gpu)", wf.ErrorMessage, StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Spindle.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("repository root (Spindle.sln) not found");
    }
}

public sealed class SqliteDeadlineTests : DeadlineBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-deadline-");

    [Fact]
    public async Task RunTimers_DeadlineStoredUnderTheOldImplicitDefault_IsLiftedNotEnforced()
    {
        string id;
        var old = new EngineDefaults { WorkflowTimeoutSeconds = 300, Clock = Clock }; // what older servers stored
        await using (var before = new SqliteWorkflowStore(_dir.DatabasePath, old))
        {
            await before.MigrateAsync(CancellationToken.None);
            id = await DeployAndSubmitAsync(before, "name: slow\nactivities:\n  - {key: a, activity_name: echo, settings: {delay: 10m}}\n");
        }
        await using var after = new SqliteWorkflowStore(_dir.DatabasePath, new EngineDefaults { Clock = Clock });
        Clock.Advance(TimeSpan.FromSeconds(301));
        await after.RunTimersAsync(CancellationToken.None);
        var wf = await after.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Running, wf!.Status);
        Assert.Null(wf.DeadlineAt);
    }

    protected override Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new SqliteWorkflowStore(_dir.DatabasePath, defaults));

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresDeadlineTests(PostgresFixture postgres) : DeadlineBehaviour
{
    protected override async Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        new PostgresWorkflowStore(await postgres.CreateDatabaseAsync(), defaults);
}
