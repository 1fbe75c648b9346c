using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Core.Schedules;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>
/// Schedules on both backends, on a fake clock: each occurrence submitted once with its key and origin, catch-up
/// after downtime, the overlap policies, remaining runs, trigger, backfill, definition-declared schedules, and a
/// restart (a second store on the same database) in the middle of a due time.
/// </summary>
public abstract class ScheduleStoreBehaviour : IAsyncLifetime
{
    /// <summary>The activity's worker never polls, so a submitted run stays running until cancelled.</summary>
    private const string Report = "name: report\nactivities:\n  - {key: a, activity_name: echo, worker: nobody}\n";

    private readonly List<IWorkflowStore> _stores = [];

    // Whole seconds, so that occurrences and their keys line up with the clock in the assertions.
    protected FakeTimeProvider Clock { get; } = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));

    private IWorkflowStore Store { get; set; } = null!;

    private IScheduleStore Schedules => (IScheduleStore)Store;

    /// <summary>A store on this test's database (the same one on every call).</summary>
    protected abstract Task<IWorkflowStore> OpenStoreAsync(EngineDefaults defaults);

    public async Task InitializeAsync()
    {
        Store = await NewStoreAsync();
        await Store.DeployAsync(Parse(Report), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
    }

    private async Task<IWorkflowStore> NewStoreAsync()
    {
        var store = await OpenStoreAsync(new EngineDefaults { WorkflowTimeoutSeconds = 0, Clock = Clock });
        _stores.Add(store);
        await store.MigrateAsync(CancellationToken.None);
        return store;
    }

    private static ScheduleSpec Every(string name, int seconds, string policy = OverlapPolicies.Allow) => new()
    {
        Name = name,
        DefinitionName = "report",
        IntervalSeconds = seconds,
        OverlapPolicy = policy,
        Input = new JsonObject { ["k"] = 1 },
    };

    private async Task<StoredSchedule> CreateAsync(ScheduleSpec spec)
    {
        var outcome = await Schedules.CreateScheduleAsync(spec, "tester", CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        return outcome.Schedule!;
    }

    private Task<ScheduleFireOutcome> FireAsync(IWorkflowStore? store = null) =>
        ((IScheduleStore)(store ?? Store)).FireDueSchedulesAsync(CancellationToken.None);

    private async Task<IReadOnlyList<WorkflowState>> RunsOfAsync(string scheduleId)
    {
        var (items, _) = await Store.ListWorkflowsAsync(new WorkflowQuery(null, null, null, null, 1000, 0) { ScheduleId = scheduleId },
            CancellationToken.None);
        var list = new List<WorkflowState>();
        foreach (var w in items.OrderBy(w => w.CreatedAt))
        {
            list.Add((await Store.GetWorkflowAsync(w.Id, CancellationToken.None))!);
        }
        return list;
    }

    private void Advance(int seconds) => Clock.Advance(TimeSpan.FromSeconds(seconds));

    [Fact]
    public async Task CreateSchedule_DuplicateNameOrUnknownDefinition_IsRefused()
    {
        await CreateAsync(Every("nightly", 60));
        var duplicate = await Schedules.CreateScheduleAsync(Every("nightly", 30), null, CancellationToken.None);
        Assert.Equal(StoreStatus.Conflict, duplicate.Status);
        var unknown = await Schedules.CreateScheduleAsync(Every("other", 30) with { DefinitionName = "missing" }, null, CancellationToken.None);
        Assert.Equal(StoreStatus.NotFound, unknown.Status);
        Assert.Single(await Schedules.ListSchedulesAsync(CancellationToken.None));
    }

    [Fact]
    public async Task FireDue_IntervalOccurrence_SubmitsOnceWithKeyAndOrigin()
    {
        var s = await CreateAsync(Every("tick", 10));
        Assert.Equal(s.AnchorAt + Timestamps.FromSeconds(10), s.NextRunAt);
        Assert.Equal(0, (await FireAsync()).Submitted); // not due yet
        Advance(10);
        var fired = await FireAsync();
        Assert.Equal(1, fired.Submitted);
        Assert.Equal(s.AnchorAt + Timestamps.FromSeconds(20), fired.NextDueAt);
        Assert.Equal(0, (await FireAsync()).Submitted); // the occurrence is done

        var run = Assert.Single(await RunsOfAsync(s.Id));
        Assert.Equal(s.Id, run.ScheduleId);
        Assert.Equal(s.NextRunAt, run.ScheduledAt);
        Assert.Equal(ScheduleCadence.UniqueKey("tick", s.NextRunAt!.Value), run.UniqueKey);
        Assert.Equal(1, run.Input["k"]!.GetValue<int>());
        var after = await Schedules.GetScheduleAsync(s.Id, CancellationToken.None);
        Assert.Equal(run.Id, after!.LastWorkflowId);
        Assert.Equal(1, after.RunCount);
        var recorded = Assert.Single(await Schedules.GetScheduleRunsAsync(s.Id, 10, CancellationToken.None));
        Assert.Equal(ScheduleRunOutcomes.Submitted, recorded.Outcome);
    }

    [Fact]
    public async Task FireDue_AfterDowntime_RunsOneCatchUpThenTheNextFutureOccurrence()
    {
        var s = await CreateAsync(Every("tick", 10));
        Advance(55);
        var fired = await FireAsync();
        Assert.Equal(1, fired.Submitted);
        Assert.Equal(s.AnchorAt + Timestamps.FromSeconds(60), fired.NextDueAt);
        Assert.Equal(s.AnchorAt + Timestamps.FromSeconds(10), Assert.Single(await RunsOfAsync(s.Id)).ScheduledAt);
    }

    [Fact]
    public async Task FireDue_CatchupWindow_RunsEveryMissedOccurrenceInsideItOldestFirst()
    {
        var s = await CreateAsync(Every("tick", 10) with { CatchupWindowSeconds = 30 });
        Advance(55);
        var fired = await FireAsync();
        Assert.Equal(3, fired.Submitted);
        var submitted = (await Schedules.GetScheduleRunsAsync(s.Id, 10, CancellationToken.None)).Reverse(); // newest first: reversed
        Assert.Equal([30L, 40L, 50L], submitted.Select(r => (r.OccurrenceAt - s.AnchorAt) / Timestamps.FromSeconds(1)));
        Assert.Equal(3, (await RunsOfAsync(s.Id)).Count);
    }

    [Fact]
    public async Task FireDue_SkipWhileRunning_RecordsAndCountsTheSkippedOccurrence()
    {
        var s = await CreateAsync(Every("tick", 10, OverlapPolicies.Skip));
        Advance(10);
        Assert.Equal(1, (await FireAsync()).Submitted);
        Advance(10);
        var second = await FireAsync();
        Assert.Equal(0, second.Submitted);
        Assert.Equal(1, second.Skipped);
        Assert.Single(await RunsOfAsync(s.Id));
        var after = await Schedules.GetScheduleAsync(s.Id, CancellationToken.None);
        Assert.Equal(1, after!.SkippedCount);
        Assert.Equal(ScheduleRunOutcomes.Skipped, (await Schedules.GetScheduleRunsAsync(s.Id, 10, CancellationToken.None))[0].Outcome);

        await Store.CancelAsync(after.LastWorkflowId!, "done", CancellationToken.None);
        Advance(10);
        Assert.Equal(1, (await FireAsync()).Submitted); // a finished run no longer blocks
    }

    [Fact]
    public async Task FireDue_AllowWhileRunning_SubmitsOverlappingRuns()
    {
        var s = await CreateAsync(Every("tick", 10, OverlapPolicies.Allow));
        Advance(10);
        await FireAsync();
        Advance(10);
        await FireAsync();
        Assert.Equal(2, (await RunsOfAsync(s.Id)).Count(w => w.Status == WorkflowStatus.Running));
    }

    [Fact]
    public async Task FireDue_BufferOne_StartsTheBufferedOccurrenceWhenTheRunningOneEnds()
    {
        var s = await CreateAsync(Every("tick", 10, OverlapPolicies.BufferOne));
        Advance(10);
        await FireAsync();
        Advance(10);
        var second = await FireAsync(); // buffered
        Assert.True(second.WaitsForFinish);
        Advance(10);
        Assert.Equal(1, (await FireAsync()).Skipped); // only one is buffered
        var first = Assert.Single(await RunsOfAsync(s.Id));

        await Store.CancelAsync(first.Id, "done", CancellationToken.None);
        var released = await FireAsync();
        Assert.Equal(1, released.Submitted);
        Assert.False(released.WaitsForFinish);
        var runs = await RunsOfAsync(s.Id);
        Assert.Equal(2, runs.Count);
        Assert.Equal(s.AnchorAt + Timestamps.FromSeconds(20), runs[1].ScheduledAt);
    }

    [Fact]
    public async Task FireDue_CancelOther_CancelsTheRunningOneAndStartsTheNew()
    {
        var s = await CreateAsync(Every("tick", 10, OverlapPolicies.CancelOther));
        Advance(10);
        await FireAsync();
        Advance(10);
        Assert.Equal(1, (await FireAsync()).Submitted);
        var runs = await RunsOfAsync(s.Id);
        Assert.Equal([WorkflowStatus.Cancelled, WorkflowStatus.Running], runs.Select(w => w.Status));
        Assert.Contains("cancel_other", runs[0].ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FireDue_RemainingRuns_StopsAfterTheLast()
    {
        var s = await CreateAsync(Every("twice", 10) with { RemainingRuns = 2 });
        for (var i = 0; i < 4; i++)
        {
            Advance(10);
            await FireAsync();
        }
        Assert.Equal(2, (await RunsOfAsync(s.Id)).Count);
        var after = await Schedules.GetScheduleAsync(s.Id, CancellationToken.None);
        Assert.Null(after!.NextRunAt);
        Assert.Equal(0, after.Spec.RemainingRuns);
    }

    [Fact]
    public async Task FireDue_Paused_FiresNothingAndResumeReplansFromNow()
    {
        var s = await CreateAsync(Every("tick", 10));
        var paused = await Schedules.UpdateScheduleAsync(s.Id, s.Spec with { Enabled = false }, "maintenance", CancellationToken.None);
        Assert.Equal("maintenance", paused.Schedule!.PauseNote);
        Assert.Null(paused.Schedule.NextRunAt);
        Advance(30);
        Assert.Equal(0, (await FireAsync()).Submitted);
        var resumed = await Schedules.UpdateScheduleAsync(s.Id, s.Spec with { Enabled = true }, null, CancellationToken.None);
        Assert.Null(resumed.Schedule!.PauseNote);
        Assert.Equal(s.AnchorAt + Timestamps.FromSeconds(40), resumed.Schedule.NextRunAt);
    }

    [Fact]
    public async Task FireDue_SecondStoreOnTheSameDatabaseMidDueTime_EachOccurrenceOnce()
    {
        var s = await CreateAsync(Every("tick", 1) with { CatchupWindowSeconds = 60 });
        Advance(5);
        // A restarted server (a second store on the same database) and the first one race over the due occurrences.
        var restarted = await NewStoreAsync();
        var both = await Task.WhenAll(FireAsync(), FireAsync(restarted), FireAsync(), FireAsync(restarted));
        Assert.Equal(5, both.Sum(f => f.Submitted));
        var runs = await RunsOfAsync(s.Id);
        Assert.Equal(5, runs.Count);
        Assert.Equal(5, runs.Select(w => w.UniqueKey).Distinct().Count());
    }

    [Fact]
    public async Task TriggerSchedule_RespectsOrOverridesTheOverlapPolicy()
    {
        var s = await CreateAsync(Every("manual", 3600, OverlapPolicies.Skip));
        var first = await Schedules.TriggerScheduleAsync(s.Id, ignoreOverlap: false, CancellationToken.None);
        Assert.Equal(ScheduleRunOutcomes.Submitted, first.Outcome);
        Advance(1);
        var skipped = await Schedules.TriggerScheduleAsync(s.Id, ignoreOverlap: false, CancellationToken.None);
        Assert.Equal(ScheduleRunOutcomes.Skipped, skipped.Outcome);
        Advance(1);
        var forced = await Schedules.TriggerScheduleAsync(s.Id, ignoreOverlap: true, CancellationToken.None);
        Assert.Equal(ScheduleRunOutcomes.Submitted, forced.Outcome);
        Assert.Equal(2, (await RunsOfAsync(s.Id)).Count);
        Assert.Equal(s.NextRunAt, (await Schedules.GetScheduleAsync(s.Id, CancellationToken.None))!.NextRunAt); // the cadence is unchanged
    }

    [Fact]
    public async Task BackfillSchedule_PastRange_SubmitsEachOccurrenceOnce()
    {
        var s = await CreateAsync(Every("hourly", 3600));
        var from = s.AnchorAt - Timestamps.FromSeconds(5 * 3600);
        var outcome = await Schedules.BackfillScheduleAsync(s.Id, from, s.AnchorAt, 100, CancellationToken.None);
        Assert.Equal(5, outcome.Runs.Count(r => r.Outcome == ScheduleRunOutcomes.Submitted));
        var again = await Schedules.BackfillScheduleAsync(s.Id, from, s.AnchorAt, 100, CancellationToken.None);
        Assert.All(again.Runs, r => Assert.Equal(ScheduleRunOutcomes.Duplicate, r.Outcome));
        Assert.Equal(5, (await RunsOfAsync(s.Id)).Count);
    }

    [Fact]
    public async Task SyncDeclaredSchedules_CreatesUpdatesAndDisablesRemovedOnes()
    {
        var a = Every("report-a", 60);
        var b = Every("report-b", 60);
        var first = await Schedules.SyncDeclaredSchedulesAsync("report", [a, b], CancellationToken.None);
        Assert.Equal(["report-a", "report-b"], first.Created);
        var second = await Schedules.SyncDeclaredSchedulesAsync("report", [a with { IntervalSeconds = 120 }], CancellationToken.None);
        Assert.Equal(["report-a"], second.Updated);
        Assert.Equal(["report-b"], second.Disabled);
        var all = await Schedules.ListSchedulesAsync(CancellationToken.None);
        Assert.Equal(120, all.Single(x => x.Spec.Name == "report-a").Spec.IntervalSeconds);
        Assert.False(all.Single(x => x.Spec.Name == "report-b").Spec.Enabled);

        await CreateAsync(Every("manual", 60));
        var clash = await Schedules.SyncDeclaredSchedulesAsync("report", [Every("manual", 30)], CancellationToken.None);
        Assert.Equal(StoreStatus.Conflict, clash.Status);
    }
}

public sealed class SqliteScheduleStoreTests : ScheduleStoreBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-schedules-");

    protected override Task<IWorkflowStore> OpenStoreAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new SqliteWorkflowStore(_dir.DatabasePath, defaults));

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresScheduleStoreTests(PostgresFixture postgres) : ScheduleStoreBehaviour
{
    private string? _url;

    protected override async Task<IWorkflowStore> OpenStoreAsync(EngineDefaults defaults) =>
        new PostgresWorkflowStore(_url ??= await postgres.CreateDatabaseAsync(), defaults);
}
