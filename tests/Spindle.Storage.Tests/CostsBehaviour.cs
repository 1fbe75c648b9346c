using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>Cost lines, budget events and the result cache, the same on both backends.</summary>
public abstract class CostsBehaviour : IAsyncLifetime
{
    private const string Cached = """
        name: cached
        activities:
          - {key: a, activity_name: echo, parameters: {text: "{{INPUT.text}}"}, settings: {cache: true, cache_ttl: 600}}
          - {key: b, activity_name: echo, depends_on: [a]}
        """;

    protected IWorkflowStore Store { get; private set; } = null!;

    protected abstract Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults);

    public async Task InitializeAsync()
    {
        Store = await CreateStoreAsync(new EngineDefaults());
        await Store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await Store.DisposeAsync();

    [Fact]
    public async Task Complete_WithUsageLines_StoresLinesInTheSameTransactionAndSumsCost()
    {
        var id = await DeployAndSubmitAsync(Store, "name: one\nactivities:\n  - {key: a, activity_name: echo}\n");
        var claimed = await ClaimOneAsync(Store, "a");
        var report = new CostReport(0.01m,
        [
            new PricedUsage("openai", "gpt-4o", new TokenUsage(1000, 200, 300, 0, 0.5m), 0.0051m),
            new PricedUsage("anthropic", "claude-haiku-4-5", new TokenUsage(10, 20), 0.0002m),
        ]);

        var outcome = await Store.CompleteAsync(claimed.ActivityId, "w1", new JsonObject(), report, CancellationToken.None);

        Assert.Equal(StoreStatus.Ok, outcome.Status);
        var lines = await Store.GetCostLinesAsync(new CostLineQuery(id, null, null), CancellationToken.None);
        Assert.Equal([("openai", 0.0051m), ("anthropic", 0.0002m), ((string?)null, 0.01m)], lines.Select(l => (l.Line.Provider, l.Line.CostUsd)));
        var first = lines[0];
        Assert.Equal(new TokenUsage(1000, 200, 300, 0, 0.5m), first.Line.Tokens);
        Assert.Equal(("a", 1, 0), (first.Line.ActivityKey, first.Line.Attempt, first.Line.Iteration));
        Assert.Equal("one", first.DefinitionName);
        Assert.Equal(WorkflowStatus.Completed, first.WorkflowStatus);
        Assert.Equal(0.0153m, (await Store.GetWorkflowAsync(id, CancellationToken.None))!.TotalCost);
    }

    [Fact]
    public async Task Complete_WithoutCost_WritesNoCostLine()
    {
        var id = await DeployAndSubmitAsync(Store, "name: one\nactivities:\n  - {key: a, activity_name: echo}\n");
        await CompleteAsync(Store, await ClaimOneAsync(Store, "a"));
        Assert.Empty(await Store.GetCostLinesAsync(new CostLineQuery(id, null, null), CancellationToken.None));
    }

    [Fact]
    public async Task Fail_RetriedAttempts_EachKeepTheirLines()
    {
        var id = await DeployAndSubmitAsync(Store, """
            name: retry
            activities:
              - {key: a, activity_name: echo, settings: {retry: {max_attempts: 2, strategy: fixed, base_seconds: 0}}}
            """);
        var first = await ClaimOneAsync(Store, "a");
        var failed = await Store.FailAsync(first.ActivityId, "w1", new ActivityError("X", "x", true),
            new CostReport(0m, [new PricedUsage("openai", "gpt-4o", new TokenUsage(5, 5), 0.001m)]), CancellationToken.None);
        Assert.True(failed.WillRetry);
        var second = await ClaimOneAsync(Store, "a");
        await Store.CompleteAsync(second.ActivityId, "w1", new JsonObject(), CostReport.Of(0.002m), CancellationToken.None);

        var lines = await Store.GetCostLinesAsync(new CostLineQuery(id, null, null), CancellationToken.None);
        Assert.Equal([1, 2], lines.Select(l => l.Line.Attempt));
        Assert.Equal(0.003m, (await Store.GetWorkflowAsync(id, CancellationToken.None))!.TotalCost);
    }

    [Fact]
    public async Task Submit_BudgetAbort_RecordsAbortMarker()
    {
        var id = await DeployAndSubmitAsync(Store, """
            name: tight
            activities:
              - key: ask
                worker: std
                activity_name: llm_prompt
                parameters: {model: openai/gpt-4o, prompt: hi}
                settings: {budget: {limit: "0.0001"}}
            """);

        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, wf!.Status);
        Assert.Equal(EngineErrorCodes.BudgetExceeded, wf.Activities["ask"].ErrorCode);
        Assert.Empty(await ClaimAsync(Store, "w1"));
        var line = Assert.Single(await Store.GetCostLinesAsync(new CostLineQuery(id, null, null), CancellationToken.None)).Line;
        Assert.Equal((CostLine.Abort, 0.0001m, 0m), (line.BudgetEvent, line.BudgetLimitUsd, line.CostUsd));
        Assert.True(line.EstimatedCostUsd > 0.0001m);
    }

    [Fact]
    public async Task CostLines_TimeRange_FiltersByCreatedAt()
    {
        var id = await DeployAndSubmitAsync(Store, "name: one\nactivities:\n  - {key: a, activity_name: echo}\n");
        await Store.CompleteAsync((await ClaimOneAsync(Store, "a")).ActivityId, "w1", new JsonObject(), CostReport.Of(1m), CancellationToken.None);
        var now = Spindle.Core.Common.Timestamps.Now();

        Assert.Single(await Store.GetCostLinesAsync(new CostLineQuery(null, now - 60_000_000, now + 1), CancellationToken.None));
        Assert.Empty(await Store.GetCostLinesAsync(new CostLineQuery(null, now + 1, null), CancellationToken.None));
        Assert.Empty(await Store.GetCostLinesAsync(new CostLineQuery("other", null, null), CancellationToken.None));
        Assert.Single(await Store.GetCostLinesAsync(new CostLineQuery(id, null, null), CancellationToken.None));
    }

    [Fact]
    public async Task Submit_CachedResultOfEarlierRun_CompletesAtOnceMarkedAsHit()
    {
        await DeployAndSubmitAsync(Store, Cached, new JsonObject { ["text"] = "x" });
        var a = await ClaimOneAsync(Store, "a");
        await Store.CompleteAsync(a.ActivityId, "w1", new JsonObject { ["label"] = "ok" }, CostReport.Of(0.5m), CancellationToken.None);
        await CompleteAsync(Store, await ClaimOneAsync(Store, "b"));

        var second = await DeployAndSubmitAsync(Store, Cached, new JsonObject { ["text"] = "x" });

        var wf = await Store.GetWorkflowAsync(second, CancellationToken.None);
        Assert.Equal(ActivityStatus.Completed, wf!.Activities["a"].Status);
        Assert.Equal("""{"label":"ok"}""", wf.Activities["a"].Outputs!.ToJsonString());
        Assert.Equal(0m, wf.TotalCost);
        var page = await Store.GetEventsAsync(second, null, 100, null, CancellationToken.None);
        Assert.Contains(page!.Events, e => e.EventType == EventTypes.ActivityCompleted && e.Payload["cache_hit"]?.GetValue<bool>() == true);
        var b = await ClaimOneAsync(Store, "b"); // the dependent runs as usual
        Assert.Equal(second, b.WorkflowId);

        var third = await DeployAndSubmitAsync(Store, Cached, new JsonObject { ["text"] = "other" });
        Assert.Equal(ActivityStatus.Pending, (await Store.GetWorkflowAsync(third, CancellationToken.None))!.Activities["a"].Status);
    }

    [Fact]
    public async Task InvalidateCache_GlobAndDelete_RemoveEntriesAndCount()
    {
        foreach (var text in new[] { "x", "y" })
        {
            await DeployAndSubmitAsync(Store, Cached, new JsonObject { ["text"] = text });
            var a = await ClaimOneAsync(Store, "a");
            await Store.CompleteAsync(a.ActivityId, "w1", new JsonObject { ["t"] = text }, 0m, CancellationToken.None);
            await CompleteAsync(Store, await ClaimOneAsync(Store, "b"));
        }
        var keyX = ResultCacheKeys.Compute("std", "echo", null, new JsonObject { ["text"] = "x" });

        Assert.Equal(1, await Store.DeleteCacheEntryAsync(keyX, CancellationToken.None));
        Assert.Equal(0, await Store.DeleteCacheEntryAsync(keyX, CancellationToken.None));
        Assert.Equal(0, await Store.InvalidateCacheAsync("other.*", CancellationToken.None));
        Assert.Equal(1, await Store.InvalidateCacheAsync("std.ech?:*", CancellationToken.None));
        Assert.Equal(0, await Store.InvalidateCacheAsync("*", CancellationToken.None));

        var again = await DeployAndSubmitAsync(Store, Cached, new JsonObject { ["text"] = "y" });
        Assert.Equal(ActivityStatus.Pending, (await Store.GetWorkflowAsync(again, CancellationToken.None))!.Activities["a"].Status);
    }
}

public sealed class SqliteCostsTests : CostsBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-costs-");

    protected override Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new SqliteWorkflowStore(_dir.DatabasePath, defaults));

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresCostsTests(PostgresFixture postgres) : CostsBehaviour
{
    protected override async Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        new PostgresWorkflowStore(await postgres.CreateDatabaseAsync(), defaults);
}
