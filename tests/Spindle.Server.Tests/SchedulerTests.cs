using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Core.Schedules;
using Spindle.Server.Scheduling;
using Spindle.Server.Wakeups;
using Spindle.Storage;
using Spindle.Storage.Sqlite;

namespace Spindle.Server.Tests;

/// <summary>
/// The scheduler sleeps until the next due time (no polling tick) and is woken by changes: driven by a fake clock,
/// nothing fires before the due time and the occurrence fires once the clock reaches it.
/// </summary>
public sealed class SchedulerTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spindle-scheduler-").FullName;
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
    private readonly WakeupHub _hub = new();
    // Held in a list, as the storage tests do: the fixture's DisposeAsync disposes it.
    private readonly List<IWorkflowStore> _stores = [];

    private IWorkflowStore Store => _stores[0];

    private IScheduleStore Schedules => (IScheduleStore)Store;
    private Scheduler _scheduler = null!;

    public async Task InitializeAsync()
    {
        _stores.Add(new SqliteWorkflowStore(Path.Combine(_dir, "spindle.db"), new EngineDefaults { Clock = _clock }, _hub));
        await Store.MigrateAsync(CancellationToken.None);
        await Store.DeployAsync(DefinitionParser.Parse("name: report\nactivities:\n  - {key: a, activity_name: echo, worker: nobody}\n").Definition!,
            CancellationToken.None);
        _scheduler = new Scheduler(Schedules, _hub, new ServerOptions { Clock = _clock }, NullLogger<Scheduler>.Instance);
    }

    public async Task DisposeAsync()
    {
        await Store.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<int> RunsAsync() =>
        (await Store.ListWorkflowsAsync(new WorkflowQuery(null, "report", null, null, 100, 0), CancellationToken.None)).Total;

    [Fact]
    public async Task RunOnce_NothingScheduled_SleepsTheSafetyCap()
    {
        Assert.Equal(Scheduler.MaxSleep, await _scheduler.RunOnceAsync(CancellationToken.None));
    }

    [Fact]
    public async Task RunOnce_ScheduleDueLater_SleepsUntilItsDueTime()
    {
        await Schedules.CreateScheduleAsync(new ScheduleSpec { Name = "s", DefinitionName = "report", IntervalSeconds = 30 }, null, CancellationToken.None);
        var sleep = await _scheduler.RunOnceAsync(CancellationToken.None);
        Assert.InRange(sleep, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30.01));
    }

    [Fact]
    public async Task Run_CreatedWhileAsleep_WakesAndFiresWhenTheClockReachesTheDueTime()
    {
        using var stop = new CancellationTokenSource();
        var loop = _scheduler.RunAsync(stop.Token);
        await Task.Delay(200); // asleep on the 60 s cap: nothing is scheduled
        await Schedules.CreateScheduleAsync(new ScheduleSpec
        {
            Name = "s",
            DefinitionName = "report",
            IntervalSeconds = 30,
            Input = new JsonObject(),
        }, null, CancellationToken.None); // the store tells the hub, which wakes the loop to re-plan: 30 s
        await Task.Delay(200);
        _clock.Advance(TimeSpan.FromSeconds(29));
        await Task.Delay(300);
        Assert.Equal(0, await RunsAsync());
        _clock.Advance(TimeSpan.FromSeconds(2)); // past the due time (the sleep ends a millisecond after it)
        for (var i = 0; i < 50 && await RunsAsync() == 0; i++)
        {
            await Task.Delay(100);
        }
        Assert.Equal(1, await RunsAsync());
        await stop.CancelAsync();
        await loop;
    }
}
