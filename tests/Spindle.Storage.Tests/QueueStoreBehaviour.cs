using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>Queue depth and worker presence (GET /api/v1/queues), the same on both backends.</summary>
public abstract class QueueStoreBehaviour : IAsyncLifetime
{
    private IWorkflowStore _store = null!;

    protected IQueueStore Queues { get; private set; } = null!;

    protected abstract Task<(IWorkflowStore Store, IQueueStore Queues)> CreateAsync();

    public async Task InitializeAsync()
    {
        (_store, Queues) = await CreateAsync();
        await _store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    [Fact]
    public async Task GetQueues_ReadyAndRunning_CountsPerRoutingKeyWithOldestWaitAndInFlight()
    {
        await DeployAndSubmitAsync(_store, FanOutYaml("fan", 3, join: false));
        var start = await ClaimOneAsync(_store, "start");
        await CompleteAsync(_store, start);
        var beforeClaim = Timestamps.Now();
        var claimed = Assert.Single(await ClaimAsync(_store, "w2", max: 1));
        await Queues.RecordWorkersSeenAsync([new WorkerSighting("std", "w2", 4, beforeClaim)], null, CancellationToken.None);

        var now = Timestamps.Now();
        var queue = Assert.Single(await Queues.GetQueuesAsync(now, now - 60_000_000, CancellationToken.None));

        Assert.Equal(("std", 2, 0, 1), (queue.RoutingKey, queue.Ready, queue.Delayed, queue.Running));
        Assert.NotNull(queue.OldestReadyAt);
        Assert.True(queue.OldestReadyAt <= now);
        Assert.Null(queue.NextDelayedAt);
        var worker = Assert.Single(queue.Workers);
        Assert.Equal(("w2", 4, 1, beforeClaim, beforeClaim), (worker.WorkerId, worker.Slots, worker.InFlight, worker.FirstSeenAt, worker.LastSeenAt));
        Assert.Equal("std", claimed.RoutingKey);
    }

    [Fact]
    public async Task GetQueues_ReadyAtAfterNow_CountsAsDelayedWithNextTime()
    {
        await DeployAndSubmitAsync(_store, "name: one\nactivities:\n  - {key: a, activity_name: echo}\n");

        // Asked as of a moment before the activity was queued, it is not claimable yet: delayed.
        var queue = Assert.Single(await Queues.GetQueuesAsync(0, 0, CancellationToken.None));

        Assert.Equal((0, 1, 0), (queue.Ready, queue.Delayed, queue.Running));
        Assert.Null(queue.OldestReadyAt);
        Assert.NotNull(queue.NextDelayedAt);
        Assert.Empty(queue.Workers);
    }

    [Fact]
    public async Task RecordWorkersSeen_AgainAndOutOfOrder_KeepsFirstSeenLatestSeenAndLatestSlots()
    {
        await Queues.RecordWorkersSeenAsync([new WorkerSighting("gpu", "w1", 2, 1_000)], null, CancellationToken.None);
        await Queues.RecordWorkersSeenAsync([new WorkerSighting("gpu", "w1", 3, 5_000)], null, CancellationToken.None);
        await Queues.RecordWorkersSeenAsync([new WorkerSighting("gpu", "w1", 1, 4_000)], null, CancellationToken.None);

        var queue = Assert.Single(await Queues.GetQueuesAsync(10_000, 0, CancellationToken.None));

        Assert.Equal(("gpu", 0, 0, 0), (queue.RoutingKey, queue.Ready, queue.Delayed, queue.Running));
        var worker = Assert.Single(queue.Workers);
        Assert.Equal(("w1", 1_000L, 5_000L, 1, 0), (worker.WorkerId, worker.FirstSeenAt, worker.LastSeenAt, worker.Slots, worker.InFlight));
    }

    [Fact]
    public async Task GetQueues_WorkerSeenBeforeWindow_IsLeftOutAndPruneDeletesIt()
    {
        await Queues.RecordWorkersSeenAsync(
            [new WorkerSighting("std", "old", 1, 1_000), new WorkerSighting("std", "fresh", 1, 9_000), new WorkerSighting("py", "gone", 1, 2_000)],
            null, CancellationToken.None);

        var listed = await Queues.GetQueuesAsync(10_000, 5_000, CancellationToken.None);
        Assert.Equal(["fresh"], Assert.Single(listed).Workers.Select(w => w.WorkerId));

        await Queues.RecordWorkersSeenAsync([], pruneBefore: 5_000, CancellationToken.None);
        var all = await Queues.GetQueuesAsync(10_000, 0, CancellationToken.None);
        Assert.Equal(["fresh"], Assert.Single(all).Workers.Select(w => w.WorkerId));
    }
}

public sealed class SqliteQueueStoreTests : QueueStoreBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-queues-");

    protected override Task<(IWorkflowStore Store, IQueueStore Queues)> CreateAsync()
    {
        var path = _dir.DatabasePath;
        return Task.FromResult<(IWorkflowStore, IQueueStore)>((new SqliteWorkflowStore(path, new EngineDefaults()), new SqliteQueueStore(path)));
    }

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresQueueStoreTests(PostgresFixture postgres) : QueueStoreBehaviour
{
    protected override async Task<(IWorkflowStore Store, IQueueStore Queues)> CreateAsync()
    {
        var store = new PostgresWorkflowStore(await postgres.CreateDatabaseAsync(), new EngineDefaults());
        return (store, new PostgresQueueStore(store.DataSource));
    }
}
