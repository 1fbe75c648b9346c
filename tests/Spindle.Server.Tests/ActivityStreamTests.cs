using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Storage;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>Activity streams: a worker publishes chunks over HTTP; WebSocket and SSE subscribers, early or late, get them all.</summary>
[Collection(ServerCollection.Name)]
public sealed class ActivityStreamTests(ServerFixture server)
{
    private const string Worker = "w_stream";

    /// <summary>Deploys and submits a one-activity run and claims its activity as <paramref name="workerId"/>.</summary>
    internal static async Task<string> LeaseAsync(ServerFixture server, string workerId = Worker)
    {
        var queue = "q_" + Guid.NewGuid().ToString("N")[..8];
        var name = "wf_" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync($$"""
            name: {{name}}
            activities:
              - {key: talk, worker: {{queue}}, activity_name: talk}
            """);
        await server.SubmitAsync(name);
        var claimed = Assert.Single(await server.PollAsync(workerId, 1, wait: 10, routingKey: queue));
        return claimed!["activity_id"]!.GetValue<string>();
    }

    private Task<string> LeaseAsync() => LeaseAsync(server);

    private async Task<int> PublishAsync(string activityId, string text, int index)
    {
        var (status, body) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/token",
            new JsonObject { ["text"] = text, ["index"] = index, ["worker_id"] = Worker });
        Assert.True(status == 200, body.ToJsonString());
        return body["subscribers"]!.GetValue<int>();
    }

    [Fact]
    public async Task ActivityWebSocket_LateSubscriber_GetsTokensSoFarThenLiveThenComplete()
    {
        var activityId = await LeaseAsync();
        Assert.Equal(0, await PublishAsync(activityId, "Hel", 0));
        Assert.Equal(0, await PublishAsync(activityId, "lo", 1));
        await using var ws = await WebSocketSubscription.OpenAsync(server.BaseUrl, $"/api/v1/activities/{activityId}/ws");
        var first = await ws.NextAsync();
        Assert.Equal("Hel", first!["text"]!.GetValue<string>());
        Assert.Equal(1, await PublishAsync(activityId, ", world", 2));
        var (status, _) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/complete",
            new JsonObject { ["result"] = new JsonObject { ["text"] = "Hello, world" }, ["worker_id"] = Worker });
        Assert.Equal(200, status);

        var frames = new List<JsonObject> { first };
        while (await ws.NextAsync() is { } frame)
        {
            frames.Add(frame);
        }

        Assert.Equal(["token", "token", "token", "complete"], frames.Select(f => f["type"]!.GetValue<string>()));
        Assert.Equal([0, 1, 2], frames.Take(3).Select(f => f["index"]!.GetValue<int>()));
        Assert.Equal("Hello, world", frames[3]["result"]!["text"]!.GetValue<string>());
        Assert.Equal(activityId, frames[3]["activity_id"]!.GetValue<string>());
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.Socket.CloseStatus);
    }

    [Fact]
    public async Task ActivitySse_Subscriber_GetsFramesWithPositionsAndEndsAfterError()
    {
        var activityId = await LeaseAsync();
        await PublishAsync(activityId, "a", 0);
        await using var sse = await SseSubscription.OpenAsync(server.Http, $"/api/v1/activities/{activityId}/stream");
        await PublishAsync(activityId, "b", 1);
        var (status, _) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/error", new JsonObject { ["error"] = "rate limited", ["worker_id"] = Worker });
        Assert.Equal(200, status);

        var got = await sse.ReadUntilAsync(f => (string?)f["type"] == "error");

        Assert.Equal(["1", "2", "3"], got.Select(g => g.Id));
        Assert.Equal("rate limited", got[2].Frame["error"]!.GetValue<string>());
        Assert.Null(await sse.NextAsync());
    }

    [Fact]
    public async Task ActivityStream_PublishAfterEnd_Returns409AndBadChunkReturns422()
    {
        var activityId = await LeaseAsync();
        var (bad, body) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/token", new JsonObject { ["text"] = 5 });
        Assert.Equal(422, bad);
        Assert.True(body["error"]!["details"]!["field_errors"]!.AsObject().ContainsKey("text"));
        await server.PostAsync($"/api/v1/activities/{activityId}/ws/complete", new JsonObject { ["result"] = "done", ["worker_id"] = Worker });
        var (late, _) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/token", new JsonObject { ["text"] = "x", ["index"] = 9, ["worker_id"] = Worker });
        Assert.Equal(409, late);
    }

    [Fact]
    public async Task Publish_ByWorkerNotHoldingTheLease_Returns409WithEnvelopeAndNothingReachesSubscribers()
    {
        var activityId = await LeaseAsync();
        await using var sse = await SseSubscription.OpenAsync(server.Http, $"/api/v1/activities/{activityId}/stream");

        var (status, body) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/token",
            new JsonObject { ["text"] = "forged", ["index"] = 0, ["worker_id"] = "someone_else" });
        var (end, _) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/complete", new JsonObject { ["result"] = "forged", ["worker_id"] = "someone_else" });
        await PublishAsync(activityId, "real", 0);
        await server.PostAsync($"/api/v1/activities/{activityId}/ws/complete", new JsonObject { ["result"] = "real", ["worker_id"] = Worker });
        var frames = await sse.ReadUntilAsync(f => (string?)f["type"] == "complete");

        Assert.Equal(409, status);
        Assert.Equal("CONFLICT", body["error"]!["code"]!.GetValue<string>());
        Assert.Contains("someone_else", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(409, end);
        Assert.Equal(["real"], frames.Where(f => (string?)f.Frame["type"] == "token").Select(f => f.Frame["text"]!.GetValue<string>()));
        Assert.Equal("real", frames[^1].Frame["result"]!.GetValue<string>());
    }

    [Fact]
    public async Task Publish_UnknownActivity_Returns404AndQueuedActivity_Returns409()
    {
        var (unknown, body) = await server.PostAsync($"/api/v1/activities/{Guid.CreateVersion7()}/ws/token", new JsonObject { ["text"] = "x", ["worker_id"] = Worker });
        Assert.Equal(404, unknown);
        Assert.Equal("NOT_FOUND", body["error"]!["code"]!.GetValue<string>());

        // Queued but not claimed: nobody holds a lease, so nobody (named or not) publishes.
        var queue = "q_" + Guid.NewGuid().ToString("N")[..8];
        var name = "wf_" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync($"name: {name}\nactivities:\n  - {{key: talk, worker: {queue}, activity_name: talk}}\n");
        var id = await server.SubmitAsync(name);
        var wf = await server.App.Services.GetRequiredService<IWorkflowStore>().GetWorkflowAsync(id, CancellationToken.None);
        var queued = wf!.Activities["talk"].Id;
        var (anonymous, _) = await server.PostAsync($"/api/v1/activities/{queued}/ws/token", new JsonObject { ["text"] = "x" });
        Assert.Equal(409, anonymous);
    }

    [Fact]
    public async Task Publish_WithoutWorkerId_AcceptedWhileLeasedThenRefusedOnceCompleted()
    {
        // Kruxia workers do not name themselves on the stream routes: the lease must be held by someone.
        var activityId = await LeaseAsync();
        var (during, body) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/token", new JsonObject { ["text"] = "k", ["index"] = 0 });
        Assert.True(during == 200, body.ToJsonString());
        var (done, _) = await server.PostAsync($"/api/v1/activities/{activityId}/complete",
            new JsonObject { ["worker_id"] = Worker, ["output"] = new JsonObject { ["result"] = "k" } });
        Assert.Equal(200, done);

        var (after, _) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/token?worker_id={Worker}", new JsonObject { ["text"] = "late", ["index"] = 1 });

        Assert.Equal(409, after);
    }

    [Fact]
    public async Task ActivityStream_Subscribers_CountsOpenConnections()
    {
        var activityId = NewActivityId();
        await using var ws = await WebSocketSubscription.OpenAsync(server.BaseUrl, $"/api/v1/activities/{activityId}/ws");
        var count = 0;
        for (var i = 0; i < 50 && count == 0; i++)
        {
            (_, var body) = await server.GetAsync($"/api/v1/activities/{activityId}/ws/subscribers");
            count = body["count"]!.GetValue<int>();
            if (count == 0)
            {
                await Task.Delay(20); // the upgrade completes just after ConnectAsync returns
            }
        }
        Assert.Equal(1, count);
    }

    private static string NewActivityId() => Guid.CreateVersion7().ToString();

    [Fact]
    public async Task WorkflowActivityWebSocket_UnknownWorkflow_Returns404()
    {
        var (status, _) = await server.GetAsync($"/api/v1/workflows/{Guid.CreateVersion7()}/activities/a/stream");
        Assert.Equal(404, status);
    }
}

/// <summary>The .NET worker SDK's <c>ctx.StreamAsync</c> against a real server.</summary>
[Collection(ServerCollection.Name)]
public sealed class WorkerStreamTests(ServerFixture server)
{
    [Fact]
    public async Task StreamAsync_HandlerPublishesChunks_SubscriberGetsThemThenTheResult()
    {
        var queue = "q_" + Guid.NewGuid().ToString("N")[..8];
        var name = "wf_" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync($$"""
            name: {{name}}
            activities:
              - {key: talk, worker: {{queue}}, activity_name: talk}
            """);
        var registry = new Spindle.Worker.ActivityRegistry().Register("talk", async (context, ct) =>
        {
            await context.StreamAsync("Hel", ct);
            await context.StreamAsync(new JsonObject { ["partial"] = 2 }, ct);
            return new Spindle.Worker.ActivityResult(new JsonObject { ["said"] = "Hello" });
        });
        var options = new Spindle.Worker.SpindleWorkerOptions
        {
            ApiUrl = new Uri(server.BaseUrl),
            RoutingKey = queue,
            WorkerId = "w_" + Guid.NewGuid().ToString("N")[..8],
            PollWaitSeconds = 1,
            ShutdownTimeout = TimeSpan.FromSeconds(5),
        };
        using var worker = new Spindle.Worker.SpindleWorker(options, registry);
        using var stop = new CancellationTokenSource();
        var run = worker.RunAsync(stop.Token);
        string id;
        try
        {
            id = await server.SubmitAsync(name);
            var (status, wf) = await server.GetAsync($"/api/v1/workflows/{id}?wait_seconds=20");
            Assert.Equal(200, status);
            Assert.Equal("completed", wf["status"]!.GetValue<string>());
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(10));
        }

        await using var sse = await SseSubscription.OpenAsync(server.Http, $"/api/v1/workflows/{id}/activities/talk/stream");
        var frames = await sse.ReadUntilAsync(f => (string?)f["type"] is "complete" or "error");

        Assert.Equal(["token", "token", "complete"], frames.Select(f => f.Frame["type"]!.GetValue<string>()));
        Assert.Equal(["Hel", "{\"partial\":2}"], frames.Take(2).Select(f => f.Frame["text"]!.GetValue<string>()));
        Assert.Equal("Hello", frames[2].Frame["result"]!["said"]!.GetValue<string>());
    }
}
