using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Server.Hosting;
using Spindle.Storage;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>GET /api/v1/queues over real HTTP: depth per routing key and the workers polling it.</summary>
[Collection(ServerCollection.Name)]
public sealed class QueuesApiTests(ServerFixture server)
{
    [Fact]
    public async Task ListQueues_WorkerPolledAndHoldsOne_ShowsDepthOldestWaitAndTheWorker()
    {
        var key = "q-" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync($$"""
            name: {{key}}
            activities:
              - {key: a, activity_name: echo, worker: {{key}}}
              - {key: b, activity_name: echo, worker: {{key}}}
            """);
        await server.SubmitAsync(key);
        Assert.Single(await server.PollAsync("ops-w1", max: 1, routingKey: key));

        // The sighting is written in the background, off the poll's path: read until it is there.
        var queue = await WaitForAsync(key, q => q["workers"]!.AsArray().Count == 1);

        Assert.Equal((1, 0, 1), (queue["ready"]!.GetValue<int>(), queue["delayed"]!.GetValue<int>(), queue["running"]!.GetValue<int>()));
        Assert.True(queue["oldest_wait_seconds"]!.GetValue<double>() >= 0);
        Assert.NotNull(queue["oldest_ready_at"]);
        var worker = queue["workers"]![0]!;
        Assert.Equal("ops-w1", worker["worker_id"]!.GetValue<string>());
        Assert.Equal((1, 1), (worker["slots"]!.GetValue<int>(), worker["in_flight"]!.GetValue<int>()));
        Assert.True(worker["last_seen_seconds_ago"]!.GetValue<double>() >= 0);
    }

    [Fact]
    public async Task ListQueues_QueuedWithoutWorkers_ListsTheKeyWithNoWorkers()
    {
        var key = "q-" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync($"name: {key}\nactivities:\n  - {{key: a, activity_name: echo, worker: {key}}}\n");
        await server.SubmitAsync(key);

        var (status, body) = await server.GetAsync("/api/v1/queues");

        Assert.Equal(200, status);
        var queue = body["queues"]!.AsArray().Single(q => q!["routing_key"]!.GetValue<string>() == key)!;
        Assert.Equal((1, 0), (queue["ready"]!.GetValue<int>(), queue["running"]!.GetValue<int>()));
        Assert.Empty(queue["workers"]!.AsArray());
        Assert.Equal(90, body["worker_window_seconds"]!.GetValue<int>());
    }

    private async Task<JsonNode> WaitForAsync(string key, Func<JsonNode, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var (status, body) = await server.GetAsync("/api/v1/queues");
            Assert.Equal(200, status);
            var queue = body["queues"]!.AsArray().SingleOrDefault(q => q!["routing_key"]!.GetValue<string>() == key);
            if (queue is not null && done(queue))
            {
                return queue;
            }
            Assert.True(DateTime.UtcNow < deadline, "queue not as expected: " + body.ToJsonString());
            await Task.Delay(50);
        }
    }
}

/// <summary>The presence recorder's throttle and its background write, on a real SQLite file and a fake clock.</summary>
public sealed class WorkerPresenceRecorderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spindle-presence-").FullName;

    [Fact]
    public async Task Seen_SameWorkerWithinThrottle_QueuesOneWriteUntilTheThrottlePasses()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-03-01T10:00:00Z", CultureInfo.InvariantCulture));
        var path = Path.Combine(_dir, "spindle.db");
        await using (var migrate = new SqliteWorkflowStore(path, new EngineDefaults()))
        {
            await migrate.MigrateAsync(CancellationToken.None);
        }
        var store = new SqliteQueueStore(path);
        using var recorder = new WorkerPresenceRecorder(store, new ServerOptions { Clock = clock }, NullLogger<WorkerPresenceRecorder>.Instance);

        recorder.Seen("std", "w1", 4);
        recorder.Seen("std", "w1", 9);
        clock.Advance(TimeSpan.FromSeconds(4));
        recorder.Seen("std", "w1", 9);
        Assert.Equal(1, recorder.Queued);
        recorder.Seen("std", "w2", 1);
        clock.Advance(WorkerPresenceRecorder.Throttle);
        recorder.Seen("std", "w1", 2);
        Assert.Equal(3, recorder.Queued);

        await recorder.StartAsync(CancellationToken.None);
        var now = Timestamps.ToMicros(clock.GetUtcNow());
        IReadOnlyList<QueueSnapshot> queues;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((queues = await store.GetQueuesAsync(now, 0, CancellationToken.None)).Count == 0 || recorder.Queued > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the sightings were not written");
            await Task.Delay(20);
        }
        await recorder.StopAsync(CancellationToken.None);

        var workers = Assert.Single(queues).Workers.ToDictionary(w => w.WorkerId);
        Assert.Equal((2, now), (workers["w1"].Slots, workers["w1"].LastSeenAt));
        Assert.Equal(now - 9_000_000, workers["w1"].FirstSeenAt);
        Assert.Equal(1, workers["w2"].Slots);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}
