using System.Text.Json.Nodes;
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

    [Fact]
    public async Task ActivityStream_PublishedToA_ReachesEarlyAndLateSubscribersOnBInOrder()
    {
        var activityId = Guid.CreateVersion7().ToString();
        await using var early = await WebSocketSubscription.OpenAsync(_b.Api.BaseUrl, $"/api/v1/activities/{activityId}/ws");
        // Many small chunks (batched into few notifications) and one far over the 8000-byte NOTIFY limit (sent in parts).
        var big = string.Concat(Enumerable.Repeat("é€😀x", 5000));
        var texts = Enumerable.Range(0, 200).Select(i => $"t{i} ").Append(big).Append("end").ToList();
        for (var i = 0; i < texts.Count; i++)
        {
            var (status, body) = await _a.Api.PostAsync($"/api/v1/activities/{activityId}/ws/token", new JsonObject { ["text"] = texts[i], ["index"] = i });
            Assert.True(status == 200, body.ToJsonString());
        }
        var (done, _) = await _a.Api.PostAsync($"/api/v1/activities/{activityId}/ws/complete", new JsonObject { ["result"] = new JsonObject { ["n"] = texts.Count } });
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
