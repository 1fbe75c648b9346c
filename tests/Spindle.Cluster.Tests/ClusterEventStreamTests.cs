using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Cluster.Tests;

/// <summary>
/// Event streams across a PostgreSQL cluster: a subscriber on server B sees every event of a run that is submitted,
/// claimed and completed through server A, in log order, and can resume on either server.
/// </summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class ClusterEventStreamTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const string Chain = """
        name: chain
        activities:
          - {key: a, activity_name: echo}
          - {key: b, activity_name: echo, depends_on: [a]}
          - {key: c, activity_name: echo, depends_on: [a]}
        """;

    private InProcessServer _a = null!;
    private InProcessServer _b = null!;

    public async Task InitializeAsync()
    {
        var database = await postgres.CreateDatabaseAsync();
        _a = await InProcessServer.StartAsync(database);
        _b = await InProcessServer.StartAsync(database);
        await _a.Api.DeployAsync(Chain);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    /// <summary>Claims and completes through server A until the run has no more work.</summary>
    private async Task DriveThroughAAsync(int activities)
    {
        for (var done = 0; done < activities;)
        {
            foreach (var activity in await _a.Api.PollAsync("wA", 2, waitSeconds: 5))
            {
                var (status, body) = await _a.Api.PostAsync($"/api/v1/activities/{activity!["activity_id"]}/complete",
                    new JsonObject { ["worker_id"] = "wA", ["output"] = new JsonObject { ["ok"] = true } });
                Assert.True(status == 200, body.ToJsonString());
                done++;
            }
        }
    }

    private async Task<List<string>> HistoryIdsAsync(string id)
    {
        using var response = await _a.Api.Http.GetAsync($"/api/v1/workflows/{id}/events");
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return [.. body["events"]!.AsArray().Select(e => e!["id"]!.GetValue<string>())];
    }

    private static bool IsCompleted(JsonObject frame) => (string?)frame["event_type"] == "WorkflowCompleted";

    [Fact]
    public async Task EventStream_SubscriberOnOtherServer_ReceivesEveryEventInLogOrder()
    {
        await using var sse = await SseSubscription.OpenAsync(_b.Api.Http, "/api/v1/events/stream");
        await using var ws = await WebSocketSubscription.OpenAsync(_b.Api.BaseUrl, "/api/v1/workflow_events/ws?event_type=ActivityCompleted,WorkflowCompleted");
        var id = await _a.Api.SubmitAsync("chain");
        await DriveThroughAAsync(3);

        var got = await sse.ReadUntilAsync(f => IsCompleted(f) && (string?)f["workflow_id"] == id);
        var filtered = await ws.ReadEventsUntilAsync(IsCompleted);

        var history = await HistoryIdsAsync(id);
        Assert.Equal(history, got.Select(g => g.Id).ToList());
        Assert.Equal(["ActivityCompleted", "ActivityCompleted", "ActivityCompleted", "WorkflowCompleted"],
            filtered.Select(f => f["event_type"]!.GetValue<string>()));
    }

    [Fact]
    public async Task WorkflowEventStream_ResumeOnOtherServer_NothingLostOrRepeated()
    {
        var id = await _a.Api.SubmitAsync("chain");
        var first = new List<string>();
        await using (var onA = await SseSubscription.OpenAsync(_a.Api.Http, $"/api/v1/workflows/{id}/events/stream"))
        {
            first.AddRange((await onA.ReadUntilAsync(f => (string?)f["event_type"] == "ActivityScheduled")).Select(g => g.Id));
        }
        await DriveThroughAAsync(3);

        await using var onB = await SseSubscription.OpenAsync(_b.Api.Http, $"/api/v1/workflows/{id}/events/stream", lastEventId: first[^1]);
        var rest = await onB.ReadUntilAsync(IsCompleted);

        Assert.Equal(await HistoryIdsAsync(id), [.. first, .. rest.Select(r => r.Id)]);
    }

    [Fact]
    public async Task EventStream_ConcurrentRunsOnBothServers_EveryEventOnceInEachRunsOrder()
    {
        await using var sse = await SseSubscription.OpenAsync(_b.Api.Http, "/api/v1/events/stream");
        const int runs = 24;
        var ids = await Task.WhenAll(Enumerable.Range(0, runs).Select(i => (i % 2 == 0 ? _a : _b).Api.SubmitAsync("chain")));
        // Four workers, two per server, claim and complete concurrently: commits interleave across servers.
        var remaining = runs * 3;
        async Task WorkAsync(InProcessServer server, string workerId)
        {
            while (Volatile.Read(ref remaining) > 0)
            {
                foreach (var activity in await server.Api.PollAsync(workerId, 3, waitSeconds: 1))
                {
                    var (status, body) = await server.Api.PostAsync($"/api/v1/activities/{activity!["activity_id"]}/complete",
                        new JsonObject { ["worker_id"] = workerId, ["output"] = new JsonObject { ["ok"] = true } });
                    Assert.True(status == 200, body.ToJsonString());
                    Interlocked.Decrement(ref remaining);
                }
            }
        }
        await Task.WhenAll(WorkAsync(_a, "wA1"), WorkAsync(_a, "wA2"), WorkAsync(_b, "wB1"), WorkAsync(_b, "wB2"));

        var finished = 0;
        var got = await sse.ReadUntilAsync(f => IsCompleted(f) && ++finished == runs);

        Assert.Equal(got.Count, got.Select(g => g.Id).Distinct().Count());
        foreach (var id in ids)
        {
            Assert.Equal(await HistoryIdsAsync(id), got.Where(g => (string?)g.Frame["workflow_id"] == id).Select(g => g.Id).ToList());
        }
    }
}
