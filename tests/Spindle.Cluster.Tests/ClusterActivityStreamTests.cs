using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Storage;
using Spindle.Storage.Postgres;
using Spindle.TestSupport;

namespace Spindle.Cluster.Tests;

/// <summary>Activity streams across two servers on one PostgreSQL: the worker posts to A, subscribers read from B.</summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class ClusterActivityStreamTests(PostgresFixture postgres) : IAsyncLifetime
{
    private InProcessServer _a = null!;
    private InProcessServer _b = null!;

    public async Task InitializeAsync()
    {
        var database = await postgres.CreateDatabaseAsync();
        _a = await InProcessServer.StartAsync(database);
        _b = await InProcessServer.StartAsync(database);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    /// <summary>A one-activity run submitted through A, its activity claimed by worker wA; returns the activity id.</summary>
    private async Task<string> LeaseAsync()
    {
        var name = "talk_" + Guid.NewGuid().ToString("N")[..8];
        var queue = "q_" + Guid.NewGuid().ToString("N")[..8];
        await _a.Api.DeployAsync($"name: {name}\nactivities:\n  - {{key: t, worker: {queue}, activity_name: talk}}\n");
        await _a.Api.SubmitAsync(name);
        var claimed = Assert.Single(await _a.Api.PollAsync("wA", 1, waitSeconds: 10, routingKey: queue));
        return claimed!["activity_id"]!.GetValue<string>();
    }

    /// <summary>Asks until the answer satisfies <paramref name="done"/> (the counts travel through the database).</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var value = await read();
        for (var i = 0; i < 200 && !done(value); i++)
        {
            await Task.Delay(50);
            value = await read();
        }
        return value;
    }

    private async Task<int> SubscribersOnAAsync(string activityId)
    {
        using var response = await _a.Api.Http.GetAsync($"/api/v1/activities/{activityId}/ws/subscribers");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["count"]!.GetValue<int>();
    }

    [Fact]
    public async Task Subscribers_OnServerB_AreCountedByServerAUntilTheyLeave()
    {
        var activityId = Guid.CreateVersion7().ToString();
        var ws = await WebSocketSubscription.OpenAsync(_b.Api.BaseUrl, $"/api/v1/activities/{activityId}/ws");
        var sse = await SseSubscription.OpenAsync(_b.Api.Http, $"/api/v1/activities/{activityId}/stream");

        var both = await EventuallyAsync(() => SubscribersOnAAsync(activityId), n => n == 2);
        await ws.DisposeAsync();
        await sse.DisposeAsync();
        var none = await EventuallyAsync(() => SubscribersOnAAsync(activityId), n => n == 0);

        Assert.Equal(2, both);
        Assert.Equal(0, none);
    }

    [Fact]
    public async Task EventsNotify_IsSentOnlyWhileSomeServerHasEventSubscribers()
    {
        var storeA = (PostgresWorkflowStore)_a.Services.GetRequiredService<IWorkflowStore>();
        var idle = await EventuallyAsync(() => Task.FromResult(storeA.NotifyEventStreams), on => !on);

        var sse = await SseSubscription.OpenAsync(_b.Api.Http, "/api/v1/events/stream");
        var listening = await EventuallyAsync(() => Task.FromResult(storeA.NotifyEventStreams), on => on);
        await sse.DisposeAsync();
        var idleAgain = await EventuallyAsync(() => Task.FromResult(storeA.NotifyEventStreams), on => !on);

        Assert.False(idle);
        Assert.True(listening);
        Assert.False(idleAgain);
    }

    [Fact]
    public async Task ActivityStream_PublishedToA_ReachesEarlyAndLateSubscribersOnBInOrder()
    {
        var activityId = await LeaseAsync();
        await using var early = await WebSocketSubscription.OpenAsync(_b.Api.BaseUrl, $"/api/v1/activities/{activityId}/ws");
        // Many small chunks (batched into few notifications) and one far over the 8000-byte NOTIFY limit (sent in parts).
        var big = string.Concat(Enumerable.Repeat("é€😀x", 5000));
        var texts = Enumerable.Range(0, 200).Select(i => $"t{i} ").Append(big).Append("end").ToList();
        for (var i = 0; i < texts.Count; i++)
        {
            var (status, body) = await _a.Api.PostAsync($"/api/v1/activities/{activityId}/ws/token", new JsonObject { ["text"] = texts[i], ["index"] = i, ["worker_id"] = "wA" });
            Assert.True(status == 200, body.ToJsonString());
        }
        var (done, _) = await _a.Api.PostAsync($"/api/v1/activities/{activityId}/ws/complete", new JsonObject { ["result"] = new JsonObject { ["n"] = texts.Count }, ["worker_id"] = "wA" });
        Assert.Equal(200, done);

        var frames = new List<JsonObject>();
        while (await early.NextAsync() is { } frame)
        {
            frames.Add(frame);
        }
        await using var late = await SseSubscription.OpenAsync(_b.Api.Http, $"/api/v1/activities/{activityId}/stream");
        var replayed = await late.ReadUntilAsync(f => (string?)f["type"] == "complete");

        Assert.Equal(texts, frames.Where(f => (string?)f["type"] == "token").Select(f => f["text"]!.GetValue<string>()));
        Assert.Equal("complete", frames[^1]["type"]!.GetValue<string>());
        Assert.Equal(texts, replayed.Where(f => (string?)f.Frame["type"] == "token").Select(f => f.Frame["text"]!.GetValue<string>()));
    }
}
