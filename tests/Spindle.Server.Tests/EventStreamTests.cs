using System.Net;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Spindle.Server.Api;
using Spindle.Server.Streams;
using Spindle.Storage;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>
/// The live workflow event streams over real loopback HTTP: SSE read with the runtime's parser and the WebSocket with
/// <see cref="ClientWebSocket"/>; what they deliver is compared with the stored history.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class EventStreamTests(ServerFixture server)
{
    private static string Unique(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>A two-step chain on its own routing key, driven by the test as the worker.</summary>
    private async Task<(string Name, string Worker)> DeployChainAsync()
    {
        var name = Unique("stream");
        var worker = Unique("w");
        await server.DeployAsync($$"""
            name: {{name}}
            activities:
              - {key: a, worker: {{worker}}, activity_name: echo}
              - {key: b, worker: {{worker}}, activity_name: echo, depends_on: [a]}
            """);
        return (name, worker);
    }

    /// <summary>Claims and completes the next activity of the routing key.</summary>
    private async Task StepAsync(string worker)
    {
        var activity = Assert.Single(await server.PollAsync("w1", 1, wait: 5, routingKey: worker))!;
        var (status, body) = await server.PostAsync($"/api/v1/activities/{activity["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject { ["ok"] = true } });
        Assert.True(status == 200, body.ToJsonString());
    }

    private async Task<List<string>> HistoryIdsAsync(string id)
    {
        var (status, body) = await server.GetAsync($"/api/v1/workflows/{id}/events");
        Assert.Equal(200, status);
        return [.. body["events"]!.AsArray().Select(e => e!["id"]!.GetValue<string>())];
    }

    private static bool IsCompleted(JsonObject frame) => (string?)frame["event_type"] == "WorkflowCompleted";

    [Fact]
    public async Task WorkflowEventStream_RunDrivenLive_DeliversHistoryThenLiveEventsInLogOrder()
    {
        var (name, worker) = await DeployChainAsync();
        var id = await server.SubmitAsync(name);
        await using var sse = await SseSubscription.OpenAsync(server.Http, $"/api/v1/workflows/{id}/events/stream");
        await StepAsync(worker);
        await StepAsync(worker);

        var got = await sse.ReadUntilAsync(IsCompleted);

        Assert.Equal(await HistoryIdsAsync(id), got.Select(g => g.Id).ToList());
        Assert.All(got, g => Assert.Equal(g.Id, g.Frame["id"]!.GetValue<string>()));
        Assert.All(got, g => Assert.Equal("event", g.Frame["type"]!.GetValue<string>()));
        Assert.Equal("WorkflowCreated", got[0].Frame["event_type"]!.GetValue<string>());
        Assert.Contains(got, g => (string?)g.Frame["event_type"] == "ActivityStarted" && (string?)g.Frame["activity_key"] == "b");
    }

    [Fact]
    public async Task WorkflowEventStream_ReconnectWithLastEventId_ResumesWithNothingLostOrRepeated()
    {
        var (name, worker) = await DeployChainAsync();
        var id = await server.SubmitAsync(name);
        string lastSeen;
        var first = new List<string>();
        await using (var sse = await SseSubscription.OpenAsync(server.Http, $"/api/v1/workflows/{id}/events/stream"))
        {
            await StepAsync(worker); // a: started, completed; b: scheduled
            var part = await sse.ReadUntilAsync(f => (string?)f["event_type"] == "ActivityCompleted");
            first.AddRange(part.Select(p => p.Id));
            lastSeen = part[^1].Id;
        }
        await StepAsync(worker); // while disconnected

        await using var resumed = await SseSubscription.OpenAsync(server.Http, $"/api/v1/workflows/{id}/events/stream", lastEventId: lastSeen);
        var rest = await resumed.ReadUntilAsync(IsCompleted);

        Assert.Equal(await HistoryIdsAsync(id), [.. first, .. rest.Select(r => r.Id)]);
    }

    [Fact]
    public async Task EventStream_FiltersByWorkflowAndType_DeliversOnlyMatchingEvents()
    {
        var (name, worker) = await DeployChainAsync();
        var watched = await server.SubmitAsync(name);
        var other = await server.SubmitAsync(name);
        await using var sse = await SseSubscription.OpenAsync(server.Http,
            $"/api/v1/events/stream?workflow_id={watched}&event_type=ActivityCompleted,WorkflowCompleted");
        for (var i = 0; i < 4; i++)
        {
            await StepAsync(worker); // both runs, in whatever order the queue hands them out
        }

        var got = await sse.ReadUntilAsync(IsCompleted);

        Assert.Equal(["ActivityCompleted", "ActivityCompleted", "WorkflowCompleted"], got.Select(g => g.Frame["event_type"]!.GetValue<string>()));
        Assert.All(got, g => Assert.Equal(watched, g.Frame["workflow_id"]!.GetValue<string>()));
        Assert.DoesNotContain(got, g => g.Frame["workflow_id"]!.GetValue<string>() == other);
    }

    [Theory]
    [InlineData("/api/v1/events/stream?workflow_id=nope")]
    [InlineData("/api/v1/events/stream?event_type=Bogus")]
    [InlineData("/api/v1/events/stream?from_event_id=0190a1b2-0000-7000-8000-000000000000")]
    [InlineData("/api/v1/workflow_events/ws?event_type=Bogus")]
    public async Task EventStream_BadQuery_Returns400WithEnvelope(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (path.Contains("/ws", StringComparison.Ordinal))
        {
            // A WebSocket handshake over HTTP/1.1: the query is checked before the upgrade.
            request.Headers.Connection.Add("Upgrade");
            request.Headers.Upgrade.Add(new System.Net.Http.Headers.ProductHeaderValue("websocket"));
            request.Headers.Add("Sec-WebSocket-Version", "13");
            request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(Guid.NewGuid().ToByteArray()));
        }
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("BAD_REQUEST", (await ServerFixture.ReadAsync(response))["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task WorkflowEventStream_UnknownWorkflow_Returns404()
    {
        var (status, body) = await server.GetAsync($"/api/v1/workflows/{Guid.CreateVersion7()}/events/stream");
        Assert.Equal(404, status);
        Assert.Equal("NOT_FOUND", body["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task WorkflowEventsWebSocket_FromEventId_ReplaysThenSendsLiveFrames()
    {
        var (name, worker) = await DeployChainAsync();
        var id = await server.SubmitAsync(name);
        var history = await HistoryIdsAsync(id); // WorkflowCreated, ActivityScheduled
        await using var ws = await WebSocketSubscription.OpenAsync(server.BaseUrl,
            $"/api/v1/workflow_events/ws?workflow_id={id}&from_event_id={history[0]}");
        await StepAsync(worker);
        await StepAsync(worker);

        var got = await ws.ReadEventsUntilAsync(IsCompleted);

        Assert.Equal((await HistoryIdsAsync(id)).Skip(1), got.Select(f => f["id"]!.GetValue<string>()));
        var frame = got[0];
        foreach (var field in new[] { "type", "id", "workflow_id", "event_type", "activity_key", "payload", "timestamp", "iteration" })
        {
            Assert.True(frame.ContainsKey(field), $"missing {field}");
        }
    }

    [Fact]
    public async Task WorkflowEventsWebSocket_Idle_SendsPings()
    {
        var saved = EventStreamsApi.WebSocketPingInterval;
        EventStreamsApi.WebSocketPingInterval = TimeSpan.FromMilliseconds(200);
        try
        {
            await using var ws = await WebSocketSubscription.OpenAsync(server.BaseUrl, $"/api/v1/workflow_events/ws?workflow_id={Guid.CreateVersion7()}");
            var frame = await ws.NextAsync();
            Assert.Equal("ping", frame!["type"]!.GetValue<string>());
            Assert.NotNull(frame["timestamp"]);
        }
        finally
        {
            EventStreamsApi.WebSocketPingInterval = saved;
        }
    }

    [Fact]
    public void EventSubscriber_BufferOverflows_IsMarkedSlowAndEndsWithoutBlocking()
    {
        var subscriber = new EventSubscriber(null, null);
        for (var i = 1; i <= EventSubscriber.BufferSize + 1; i++)
        {
            subscriber.Offer(new LoggedEvent(i, new StoredEvent(Guid.CreateVersion7().ToString(), "wf", "ActivityStarted", "a", 0, new JsonObject(), 0)));
        }
        Assert.True(subscriber.Overflowed);
        Assert.Equal(EventSubscriber.BufferSize, subscriber.Reader.Count);
    }
}

[Collection(SecureServerCollection.Name)]
public sealed class EventStreamAuthTests(SecureServerFixture server)
{
    [Fact]
    public async Task EventStream_WithoutToken_Returns401()
    {
        using var sse = await server.Http.GetAsync("/api/v1/events/stream");
        Assert.Equal(HttpStatusCode.Unauthorized, sse.StatusCode);
        using var ws = await server.Http.GetAsync("/api/v1/workflow_events/ws");
        Assert.Equal(HttpStatusCode.Unauthorized, ws.StatusCode);
        using var badToken = await server.Http.GetAsync("/api/v1/workflow_events/ws?token=not-a-token");
        Assert.Equal(HttpStatusCode.Unauthorized, badToken.StatusCode);
    }
}
