using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Core.Orchestration;
using Spindle.Server.Wakeups;
using Spindle.Storage;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>
/// The waiting read's reads (<see cref="WorkflowWaiter"/>), counted on the fixture server's real store: a wake-up goes
/// straight to the load, a wake-up that finds the workflow running again waits on, and no wait leaves a watch behind.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class WorkflowWaiterTests(ServerFixture server)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(20);

    private WakeupHub Hub => server.App.Services.GetRequiredService<WakeupHub>();

    private async Task<(string Id, string Queue)> SubmitOneActivityAsync()
    {
        var name = "waiter_" + Guid.NewGuid().ToString("N")[..8];
        var queue = "wq_" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync($"name: {name}\nactivities:\n  - {{key: only, worker: {queue}, activity_name: echo}}\n");
        return (await server.SubmitAsync(name), queue);
    }

    private async Task CompleteAsync(string queue)
    {
        var claimed = Assert.Single(await server.PollAsync("w", routingKey: queue))!;
        var (status, _) = await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w", ["output"] = new JsonObject() });
        Assert.Equal(200, status);
    }

    private static async Task EventuallyAsync(Func<bool> done)
    {
        for (var i = 0; i < 400 && !done(); i++)
        {
            await Task.Delay(50);
        }
        Assert.True(done());
    }

    private Task<WorkflowState?> WaitAsync(CountingReader reader, string id, int seconds = 30) =>
        WorkflowWaiter.LoadWhenTerminalAsync(id, TimeSpan.FromSeconds(seconds), reader, Hub, CancellationToken.None, CancellationToken.None);

    [Fact]
    public async Task LoadWhenTerminal_FinishedDuringWait_LoadsOnWakeUpWithoutReReadingTheStatus()
    {
        var (id, queue) = await SubmitOneActivityAsync();
        var reader = new CountingReader(server.App.Services.GetRequiredService<IWorkflowReader>());
        var waiting = WaitAsync(reader, id);
        await EventuallyAsync(() => !reader.Statuses.IsEmpty);

        await CompleteAsync(queue);
        var workflow = await waiting.WaitAsync(Generous);

        Assert.Equal(WorkflowStatus.Completed, workflow!.Status);
        // Every status read saw it unfinished (the 1 s re-check may add some on a slow machine); the finish went
        // straight to one load.
        Assert.All(reader.Statuses, s => Assert.False(WorkflowStatus.IsTerminal(s!)));
        Assert.Equal(1, reader.Loads);
        Assert.Equal(0, Hub.WatchedWorkflowCount);
    }

    [Fact]
    public async Task LoadWhenTerminal_WakeUpWhileStillRunning_WaitsOnUntilTerminal()
    {
        var (id, queue) = await SubmitOneActivityAsync();
        var reader = new CountingReader(server.App.Services.GetRequiredService<IWorkflowReader>());
        var waiting = WaitAsync(reader, id);
        await EventuallyAsync(() => !reader.Statuses.IsEmpty);

        // A wake-up that finds the workflow running (as when a retry lands between a finish and the load).
        Hub.WorkflowFinished(id);
        await EventuallyAsync(() => reader.Loads == 1);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);

        await CompleteAsync(queue);
        var workflow = await waiting.WaitAsync(Generous);

        Assert.Equal(WorkflowStatus.Completed, workflow!.Status);
        Assert.Equal(2, reader.Loads);
        Assert.Equal(0, Hub.WatchedWorkflowCount);
    }

    [Fact]
    public async Task LoadWhenTerminal_AlreadyTerminalOrWaitOver_LeavesNoWatchBehind()
    {
        var (finished, queue) = await SubmitOneActivityAsync();
        await CompleteAsync(queue);
        var (running, _) = await SubmitOneActivityAsync();
        var reader = new CountingReader(server.App.Services.GetRequiredService<IWorkflowReader>());

        var done = await WaitAsync(reader, finished).WaitAsync(Generous);
        var still = await WaitAsync(reader, running, seconds: 1).WaitAsync(Generous);
        var missing = await WaitAsync(reader, Guid.CreateVersion7().ToString()).WaitAsync(Generous);

        Assert.Equal(WorkflowStatus.Completed, done!.Status);
        Assert.False(WorkflowStatus.IsTerminal(still!.Status));
        Assert.Null(missing);
        Assert.Equal(0, Hub.WatchedWorkflowCount);
    }

    /// <summary>The real store, with its status reads (and what they saw) and whole-workflow loads counted.</summary>
    private sealed class CountingReader(IWorkflowReader inner) : IWorkflowReader
    {
        private int _loads;

        public ConcurrentQueue<string?> Statuses { get; } = new();

        public int Loads => Volatile.Read(ref _loads);

        public async Task<WorkflowState?> GetWorkflowAsync(string workflowId, CancellationToken cancellationToken)
        {
            var workflow = await inner.GetWorkflowAsync(workflowId, cancellationToken);
            Interlocked.Increment(ref _loads);
            return workflow;
        }

        public async Task<string?> GetWorkflowStatusAsync(string workflowId, CancellationToken cancellationToken)
        {
            var status = await inner.GetWorkflowStatusAsync(workflowId, cancellationToken);
            Statuses.Enqueue(status);
            return status;
        }

        public Task<IReadOnlyList<DefinitionSummary>> ListDefinitionsAsync(CancellationToken cancellationToken) =>
            inner.ListDefinitionsAsync(cancellationToken);

        public Task<StoredDefinition?> GetDefinitionAsync(string name, string? version, CancellationToken cancellationToken) =>
            inner.GetDefinitionAsync(name, version, cancellationToken);

        public Task<(IReadOnlyList<WorkflowSummary> Items, int Total)> ListWorkflowsAsync(WorkflowQuery query, CancellationToken cancellationToken) =>
            inner.ListWorkflowsAsync(query, cancellationToken);

        public Task<IReadOnlyList<ChildLink>> ListChildrenAsync(string workflowId, CancellationToken cancellationToken) =>
            inner.ListChildrenAsync(workflowId, cancellationToken);

        public Task<EventPage?> GetEventsAsync(string workflowId, string? afterEventId, int limit, IReadOnlySet<string>? eventTypes,
            CancellationToken cancellationToken) => inner.GetEventsAsync(workflowId, afterEventId, limit, eventTypes, cancellationToken);

        public Task<IReadOnlyList<StoredCostLine>> GetCostLinesAsync(CostLineQuery query, CancellationToken cancellationToken) =>
            inner.GetCostLinesAsync(query, cancellationToken);

        public Task<IReadOnlyList<ActivityState>> GetMapItemsAsync(string workflowId, string mapKey, int offset, int limit,
            CancellationToken cancellationToken) => inner.GetMapItemsAsync(workflowId, mapKey, offset, limit, cancellationToken);

        public Task<IReadOnlyList<(string RoutingKey, long ReadyAt)>> GetDelayedAsync(CancellationToken cancellationToken) =>
            inner.GetDelayedAsync(cancellationToken);
    }
}
