using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Spindle.Core.Costs;
using Spindle.Core.Maps;
using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>
/// Maps (for_each) on each backend: items are rows of their own, started within max_parallel by the transaction that
/// settles another, collected in item order by the transaction of the last one; a reopened store goes on where the
/// old one stopped.
/// </summary>
public abstract class MapStoreBehaviour : IAsyncLifetime
{
    protected IWorkflowStore Store { get; private set; } = null!;

    /// <summary>A store on a fresh database.</summary>
    protected abstract Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults);

    /// <summary>A second store on the same database (as after a crash and restart).</summary>
    protected abstract Task<IWorkflowStore> ReopenAsync(EngineDefaults defaults);

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);

    private EngineDefaults Defaults => new() { ActivityTimeoutSeconds = 60, MaxRetries = 0, Clock = _clock };

    public async Task InitializeAsync()
    {
        Store = await CreateStoreAsync(Defaults);
        await Store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await Store.DisposeAsync();

    private static string MapYaml(string name, string extra = "", string forEach = "{{INPUT.xs}}") => $$$"""
        name: {{{name}}}
        activities:
          - key: m
            activity_name: echo
            for_each: "{{{forEach}}}"
            parameters: {v: "{{ITEM}}", i: "{{ITEM_INDEX}}"}
            outputs: [echo]
        {{{extra}}}
          - key: after
            activity_name: echo
            parameters: {all: "{{m.echo}}", status: "{{m.status}}", failures: "{{m.map.failures}}"}
            depends_on: [m]
        """;

    private static JsonObject Input(int count) =>
        new() { ["xs"] = new JsonArray(Enumerable.Range(0, count).Select(i => (JsonNode?)JsonValue.Create($"x{i}")).ToArray()) };

    [Fact]
    public async Task Map_ThousandItemsMaxParallelTen_NeverHasMoreThanTenLeased()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map1000", "    max_parallel: 10"), Input(1000));
        var held = new Dictionary<string, ClaimedActivity>(StringComparer.Ordinal);
        var completed = new HashSet<string>(StringComparer.Ordinal);
        var maxHeld = 0;
        var turn = 0;
        while (completed.Count < 1000)
        {
            foreach (var c in await ClaimAsync(Store, "w1", 50))
            {
                held.Add(c.ActivityKey, c);
            }
            maxHeld = Math.Max(maxHeld, held.Count);
            Assert.True(held.Count <= 10, $"{held.Count} items leased at once");
            Assert.NotEmpty(held);
            // Complete in a shuffled order, half of them asking for the next step with the answer (claim-next).
            var next = held.Values.OrderBy(c => (c.ActivityKey.GetHashCode(StringComparison.Ordinal) ^ turn) & 7).First();
            held.Remove(next.ActivityKey);
            var outcome = await Store.CompleteAsync(next.ActivityId, "w1", new JsonObject { ["echo"] = next.Parameters.DeepClone() },
                CostReport.Of(0m), turn++ % 2 == 0 ? new ClaimNext(null, 5, null) : null, CancellationToken.None);
            Assert.Equal(StoreStatus.Ok, outcome.Status);
            Assert.True(completed.Add(next.ActivityKey), $"{next.ActivityKey} completed twice");
            foreach (var c in outcome.Claimed ?? [])
            {
                held.Add(c.ActivityKey, c);
            }
            Assert.True(held.Count <= 10, $"{held.Count} items leased at once after claim-next");
        }
        Assert.Equal(10, maxHeld);
        var after = await ClaimOneAsync(Store, "after");
        var all = after.Parameters["all"]!.AsArray();
        Assert.Equal(1000, all.Count);
        for (var i = 0; i < 1000; i++)
        {
            Assert.Equal($"x{i}", all[i]!["v"]!.GetValue<string>());
            Assert.Equal(i, all[i]!["i"]!.GetValue<int>());
        }
        Assert.Equal("completed", after.Parameters["status"]!.GetValue<string>());
        await CompleteAsync(Store, after);
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Completed, wf!.Status);
        Assert.Equal(1000, wf.Activities["m"].Map!.Total);
        Assert.Equal(2, wf.Activities.Count); // items are rows of their own, not activities of the loaded workflow
    }

    [Fact]
    public async Task Map_EmptyList_CompletesAtOnceWithEmptyOutputs()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-empty"), Input(0));
        var after = await ClaimOneAsync(Store, "after");
        Assert.Empty(after.Parameters["all"]!.AsArray());
        await CompleteAsync(Store, after);
        Assert.Equal(WorkflowStatus.Completed, (await Store.GetWorkflowAsync(id, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task Map_OutputsCompletedInReverse_AreListedInItemOrder()
    {
        await DeployAndSubmitAsync(Store, MapYaml("map-order"), Input(6));
        var items = await ClaimAsync(Store, "w1", 50);
        Assert.Equal(6, items.Count);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => $"m[{i}]").Order(), items.Select(c => c.ActivityKey).Order());
        foreach (var c in items.OrderByDescending(c => c.ActivityKey))
        {
            await CompleteAsync(Store, c, new JsonObject { ["echo"] = new JsonObject { ["n"] = c.Parameters["i"]!.GetValue<int>() * 10 } });
        }
        var after = await ClaimOneAsync(Store, "after");
        Assert.Equal("[0,10,20,30,40,50]", new JsonArray(after.Parameters["all"]!.AsArray().Select(e => e!["n"]!.DeepClone()).ToArray()).ToJsonString());
    }

    [Fact]
    public async Task Map_ItemFailsWithContinueOnFailure_ListHoldsNullAndFailuresAreListed()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-continue", "    continue_on_failure: true"), Input(4));
        foreach (var c in await ClaimAsync(Store, "w1", 50))
        {
            if (c.ActivityKey == "m[2]")
            {
                await Store.FailAsync(c.ActivityId, "w1", new ActivityError("BOOM", "item two broke", false), 0m, CancellationToken.None);
            }
            else
            {
                await CompleteAsync(Store, c);
            }
        }
        var after = await ClaimOneAsync(Store, "after");
        var all = after.Parameters["all"]!.AsArray();
        Assert.Equal(4, all.Count);
        Assert.Null(all[2]);
        Assert.Equal("x3", all[3]!["v"]!.GetValue<string>());
        var failure = Assert.Single(after.Parameters["failures"]!.AsArray());
        Assert.Equal(2, failure!["index"]!.GetValue<int>());
        Assert.Equal("BOOM", failure["error_code"]!.GetValue<string>());
        Assert.Equal("completed", after.Parameters["status"]!.GetValue<string>());
        await CompleteAsync(Store, after);
        Assert.Equal(WorkflowStatus.Completed, (await Store.GetWorkflowAsync(id, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task Map_ItemFailsWithoutContinueOnFailure_FailsTheMapAndStopsTheRest()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-fail", "    max_parallel: 2"), Input(5));
        var first = await ClaimAsync(Store, "w1", 50);
        Assert.Equal(2, first.Count);
        var failing = first.Single(c => c.ActivityKey == "m[0]");
        var running = first.Single(c => c.ActivityKey == "m[1]");
        var outcome = await Store.FailAsync(failing.ActivityId, "w1", new ActivityError("BOOM", "item zero broke", true), 0m, CancellationToken.None);
        Assert.False(outcome.WillRetry); // MaxRetries = 0
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, wf!.Status);
        Assert.Equal(ActivityStatus.Failed, wf.Activities["m"].Status);
        Assert.Equal(MapErrorCodes.ItemFailed, wf.Activities["m"].ErrorCode);
        Assert.Contains("item zero broke", wf.Activities["m"].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(ActivityStatus.Skipped, wf.Activities["after"].Status);
        Assert.Empty(await ClaimAsync(Store, "w1", 50)); // the items not started are cancelled
        var heartbeat = await Store.HeartbeatAsync(running.ActivityId, "w1", CancellationToken.None);
        Assert.True(heartbeat.CancelRequested); // the running one is told to stop
        Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, running)).Status); // a late result is recorded, nothing more
    }

    [Fact]
    public async Task Retry_MapFailedMidway_RunsOnlyTheItemsThatDidNotCompleteAndKeepsTheOthersResults()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-retry", "    max_parallel: 3"), Input(5));
        var first = await ClaimAsync(Store, "w1", 50);
        Assert.Equal(["m[0]", "m[1]", "m[2]"], first.Select(c => c.ActivityKey).Order().ToArray());
        await CompleteAsync(Store, first.Single(c => c.ActivityKey == "m[0]"), new JsonObject { ["echo"] = "first run" });
        await Store.FailAsync(first.Single(c => c.ActivityKey == "m[1]").ActivityId, "w1", new ActivityError("BOOM", "m[1] broke", true), 0m,
            CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, (await Store.GetWorkflowAsync(id, CancellationToken.None))!.Status);

        var retried = await Store.RetryAsync(id, CancellationToken.None);
        // m[2] was still running when the map failed: its row made way for a new one, so its late result is refused.
        var late = await CompleteAsync(Store, first.Single(c => c.ActivityKey == "m[2]"));
        var rerun = new List<string>();
        ClaimedActivity? after = null;
        while (after is null && await ClaimAsync(Store, "w2", 50) is { Count: > 0 } batch)
        {
            after = batch.SingleOrDefault(c => c.ActivityKey == "after");
            Assert.True(batch.Count <= 3, $"max_parallel 3, claimed {batch.Count}");
            foreach (var c in batch.Where(c => c.ActivityKey != "after"))
            {
                rerun.Add(c.ActivityKey);
                await CompleteAsync(Store, c, new JsonObject { ["echo"] = "rerun" }, workerId: "w2");
            }
        }

        Assert.Equal(StoreStatus.Ok, retried.Status);
        Assert.NotEqual(StoreStatus.Ok, late.Status);
        Assert.Equal(["m[1]", "m[2]", "m[3]", "m[4]"], rerun.Order().ToArray());
        Assert.NotNull(after);
        Assert.Equal("""["first run","rerun","rerun","rerun","rerun"]""", after.Parameters["all"]!.ToJsonString());
        Assert.Equal("completed", after.Parameters["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Retry_MapWithMaxParallelOne_WalksTheKeptItemsAndRunsTheRestOneAtATime()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-retry-one", "    max_parallel: 1"), Input(30));
        for (var i = 0; i < 25; i++)
        {
            await CompleteAsync(Store, await ClaimOneAsync(Store, $"m[{i}]"), new JsonObject { ["echo"] = i });
        }
        await Store.FailAsync((await ClaimOneAsync(Store, "m[25]")).ActivityId, "w1", new ActivityError("BOOM", "no", true), 0m,
            CancellationToken.None);

        await Store.RetryAsync(id, CancellationToken.None);
        for (var i = 25; i < 30; i++)
        {
            await CompleteAsync(Store, await ClaimOneAsync(Store, $"m[{i}]"), new JsonObject { ["echo"] = i * 10 });
        }
        var after = await ClaimOneAsync(Store, "after");

        var expected = Enumerable.Range(0, 30).Select(i => i < 25 ? i : i * 10);
        Assert.Equal(expected, after.Parameters["all"]!.AsArray().Select(e => e!.GetValue<int>()));
    }

    [Fact]
    public async Task Retry_MapWhoseListChanged_RunsEveryItemAgain()
    {
        // ACTIVITY.attempt grows with the retry, so the retried map expands to another list.
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-retry-list", forEach: "{{[ACTIVITY.attempt, 7]}}"));
        var first = await ClaimAsync(Store, "w1", 50);
        await CompleteAsync(Store, first.Single(c => c.ActivityKey == "m[1]"));
        await Store.FailAsync(first.Single(c => c.ActivityKey == "m[0]").ActivityId, "w1", new ActivityError("BOOM", "no", true), 0m,
            CancellationToken.None);

        await Store.RetryAsync(id, CancellationToken.None);
        var again = await ClaimAsync(Store, "w1", 50);

        Assert.Equal(["m[0]", "m[1]"], again.Select(c => c.ActivityKey).Order().ToArray());
        Assert.Equal([2, 7], again.OrderBy(c => c.ActivityKey).Select(c => c.Parameters["v"]!.GetValue<int>()).ToArray());
    }

    [Fact]
    public async Task Map_ForEachYieldsNoList_FailsWithItsCode()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-nolist"), new JsonObject { ["xs"] = 5 });
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, wf!.Status);
        Assert.Equal(MapErrorCodes.ForEachNotAList, wf.Activities["m"].ErrorCode);
        Assert.Contains("not a list", wf.Activities["m"].ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Map_BehindAFalseCondition_IsSkippedAndBehindATrueOneRuns()
    {
        const string yaml = """
            name: map-cond
            activities:
              - {key: check, activity_name: echo, parameters: {go: "{{INPUT.go}}"}}
              - key: m
                activity_name: echo
                for_each: "{{check.echo.xs}}"
                parameters: {v: "{{ITEM}}"}
                depends_on: [{activity_key: check, condition: "{{check.echo.go}}"}]
            """;
        foreach (var go in new[] { false, true })
        {
            var id = await DeployAndSubmitAsync(Store, yaml, new JsonObject { ["go"] = go });
            var check = await ClaimOneAsync(Store, "check");
            await CompleteAsync(Store, check, new JsonObject { ["echo"] = new JsonObject { ["go"] = go, ["xs"] = new JsonArray(1, 2) } });
            if (go)
            {
                foreach (var c in await ClaimAsync(Store, "w1", 10))
                {
                    Assert.StartsWith("m[", c.ActivityKey, StringComparison.Ordinal);
                    await CompleteAsync(Store, c);
                }
            }
            var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
            Assert.Equal(WorkflowStatus.Completed, wf!.Status);
            Assert.Equal(go ? ActivityStatus.Completed : ActivityStatus.Skipped, wf.Activities["m"].Status);
        }
    }

    [Fact]
    public async Task Map_InALoop_ExpandsAgainEachRound()
    {
        const string yaml = """
            name: map-loop
            activities:
              - key: m
                activity_name: echo
                for_each: "{{[ACTIVITY.iteration, ACTIVITY.iteration + 10]}}"
                parameters: {v: "{{ITEM}}"}
                iteration_limit: 3
                iteration_scoped: true
                depends_on: [{activity_key: m, condition: "{{m.iteration < 2}}"}]
              - {key: after, activity_name: echo, parameters: {all: "{{m.echo}}"}, depends_on: [m]}
            """;
        var id = await DeployAndSubmitAsync(Store, yaml);
        for (var round = 0; round < 2; round++)
        {
            var items = await ClaimAsync(Store, "w1", 10);
            Assert.Equal(["m[0]", "m[1]"], items.Select(c => c.ActivityKey).Order().ToArray());
            Assert.Equal([round, round + 10], items.OrderBy(c => c.ActivityKey).Select(c => c.Parameters["v"]!.GetValue<int>()).ToArray());
            Assert.All(items, c => Assert.Equal(round, c.Iteration));
            foreach (var c in items)
            {
                await CompleteAsync(Store, c);
            }
        }
        var after = await ClaimOneAsync(Store, "after");
        Assert.Equal("""[[{"v":0},{"v":10}],[{"v":1},{"v":11}]]""", after.Parameters["all"]!.ToJsonString());
        await CompleteAsync(Store, after);
        Assert.Equal(WorkflowStatus.Completed, (await Store.GetWorkflowAsync(id, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task Map_CachedItems_SecondRunCompletesFromTheCacheWithoutWorkers()
    {
        var yaml = MapYaml("map-cache", "    settings: {cache: true}");
        await DeployAndSubmitAsync(Store, yaml, Input(3));
        foreach (var c in await ClaimAsync(Store, "w1", 10))
        {
            await CompleteAsync(Store, c);
        }
        await CompleteAsync(Store, await ClaimOneAsync(Store, "after"));

        var second = await DeployAndSubmitAsync(Store, yaml, Input(4)); // x0..x2 cached, x3 new
        var items = await ClaimAsync(Store, "w1", 10);
        Assert.Equal("m[3]", Assert.Single(items).ActivityKey);
        await CompleteAsync(Store, items[0]);
        var after = await ClaimOneAsync(Store, "after");
        Assert.Equal(4, after.Parameters["all"]!.AsArray().Count);
        var events = (await Store.GetEventsAsync(second, null, 1000, null, CancellationToken.None))!.Events;
        Assert.Equal(3, events.Count(e => e.EventType == EventTypes.ActivityCompleted && e.Payload["cache_hit"] is not null));
    }

    [Fact]
    public async Task Map_ItemCosts_AddUpOnTheMapAndTheWorkflow()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-cost"), Input(3));
        foreach (var c in await ClaimAsync(Store, "w1", 10))
        {
            await Store.CompleteAsync(c.ActivityId, "w1", new JsonObject { ["echo"] = 1 }, 0.25m, CancellationToken.None);
        }
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(0.75m, wf!.Activities["m"].Cost);
        Assert.Equal(0.75m, wf.TotalCost);
    }

    [Fact]
    public async Task Cancel_MidMap_CancelsQueuedItemsAndStopsRunningOnes()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-cancel", "    max_parallel: 3"), Input(20));
        var running = await ClaimAsync(Store, "w1", 2);
        Assert.Equal(2, running.Count);
        Assert.Equal(StoreStatus.Ok, (await Store.CancelAsync(id, "enough", CancellationToken.None)).Status);
        Assert.Empty(await ClaimAsync(Store, "w1", 50));
        Assert.True((await Store.HeartbeatAsync(running[0].ActivityId, "w1", CancellationToken.None)).CancelRequested);
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(ActivityStatus.Cancelled, wf!.Activities["m"].Status);
    }

    [Fact]
    public async Task Map_ItemLeaseExpires_ItemAloneIsOfferedAgainWithItsNextAttempt()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-lease", "    settings: {retry: {max_attempts: 2, base_seconds: 0}}"), Input(2));
        var first = await ClaimAsync(Store, "w1", 10);
        Assert.Equal(2, first.Count);
        await CompleteAsync(Store, first.Single(c => c.ActivityKey == "m[0]"));
        _clock.Advance(TimeSpan.FromSeconds(61)); // m[1]'s worker vanished
        var fired = await Store.RunTimersAsync(CancellationToken.None);
        Assert.Equal(1, fired.ExpiredLeases);
        var again = Assert.Single(await ClaimAsync(Store, "w2", 10));
        Assert.Equal(("m[1]", 2), (again.ActivityKey, again.Attempt));
        Assert.Equal(StoreStatus.Conflict, (await CompleteAsync(Store, first.Single(c => c.ActivityKey == "m[1]"))).Status);
        await CompleteAsync(Store, again, workerId: "w2");
        await CompleteAsync(Store, await ClaimOneAsync(Store, "after"));
        Assert.Equal(WorkflowStatus.Completed, (await Store.GetWorkflowAsync(id, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task Map_StoreReopenedMidMap_LosesAndDuplicatesNothing()
    {
        var id = await DeployAndSubmitAsync(Store, MapYaml("map-crash", "    max_parallel: 7"), Input(200));
        var done = 0;
        while (done < 80)
        {
            foreach (var c in await ClaimAsync(Store, "w1", 3))
            {
                await CompleteAsync(Store, c);
                done++;
            }
        }
        var inFlight = await ClaimAsync(Store, "w1", 50); // leased when the "crash" happens
        Assert.NotEmpty(inFlight);
        await Store.DisposeAsync();
        Store = await ReopenAsync(Defaults);
        await Store.MigrateAsync(CancellationToken.None);
        foreach (var c in inFlight)
        {
            Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, c)).Status);
            done++;
        }
        while (done < 200)
        {
            var claimed = await ClaimAsync(Store, "w1", 50);
            Assert.NotEmpty(claimed);
            foreach (var c in claimed)
            {
                await CompleteAsync(Store, c);
                done++;
            }
        }
        var after = await ClaimOneAsync(Store, "after");
        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"x{i}"), after.Parameters["all"]!.AsArray().Select(e => e!["v"]!.GetValue<string>()));
        var events = (await Store.GetEventsAsync(id, null, 5000, new HashSet<string> { EventTypes.ActivityCompleted }, CancellationToken.None))!.Events;
        var perItem = events.Where(e => e.ActivityKey!.StartsWith("m[", StringComparison.Ordinal)).GroupBy(e => e.ActivityKey).ToList();
        Assert.Equal(200, perItem.Count);
        Assert.All(perItem, g => Assert.Single(g));
    }
}

public sealed class SqliteMapTests : MapStoreBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-map-");

    protected override Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new SqliteWorkflowStore(_dir.DatabasePath, defaults));

    protected override Task<IWorkflowStore> ReopenAsync(EngineDefaults defaults) => CreateStoreAsync(defaults);

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresMapTests(PostgresFixture postgres) : MapStoreBehaviour
{
    private string _connectionString = "";

    protected override async Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults)
    {
        _connectionString = await postgres.CreateDatabaseAsync();
        return new PostgresWorkflowStore(_connectionString, defaults);
    }

    protected override Task<IWorkflowStore> ReopenAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new PostgresWorkflowStore(_connectionString, defaults));
}
