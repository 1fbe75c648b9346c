using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Server.Auth;
using Spindle.Server.Streams;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>A server that lets a client hold only two stream connections at once.</summary>
public sealed class TwoStreamsServerFixture : ServerFixture
{
    protected override void Configure(ServerOptions options) => options.MaxStreamConnectionsPerClient = 2;
}

[CollectionDefinition(Name)]
public sealed class TwoStreamsServerCollection : ICollectionFixture<TwoStreamsServerFixture>
{
    public const string Name = "two-streams-server";
}

/// <summary>Stream limits: connections per client, headers at connect, slow clients, shutdown.</summary>
[Collection(TwoStreamsServerCollection.Name)]
public sealed class StreamLimitsTests(TwoStreamsServerFixture server)
{
    private static ClientWebSocket NewSocket() => new() { Options = { CollectHttpResponseDetails = true } };

    [Fact]
    public async Task StreamConnections_BeyondThePerClientLimit_Get429UntilOneCloses()
    {
        // Connections of the other tests of this server are released once the server has noticed their end.
        var connections = server.App.Services.GetRequiredService<StreamConnections>();
        for (var i = 0; i < 200 && connections.OpenCount("insecure-dev") > 0; i++)
        {
            await Task.Delay(50);
        }
        var activityId = Guid.CreateVersion7().ToString();
        var first = await SseSubscription.OpenAsync(server.Http, $"/api/v1/activities/{activityId}/stream");
        await using var second = await WebSocketSubscription.OpenAsync(server.BaseUrl, $"/api/v1/activities/{activityId}/ws");

        using var third = await server.Http.GetAsync("/api/v1/events/stream", HttpCompletionOption.ResponseHeadersRead);
        var body = await ServerFixture.ReadAsync(third);
        using var socket = NewSocket();
        var refused = await Assert.ThrowsAsync<WebSocketException>(() =>
            socket.ConnectAsync(new Uri(server.BaseUrl.Replace("http://", "ws://", StringComparison.Ordinal) + "/api/v1/workflow_events/ws"), CancellationToken.None));

        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal("RATE_LIMIT_EXCEEDED", body["error"]!["code"]!.GetValue<string>());
        Assert.Equal(2, body["error"]!["details"]!["limit"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.TooManyRequests, socket.HttpStatusCode);

        // Closing a connection frees its slot (the server notices the close and ends the response).
        await first.DisposeAsync();
        var status = HttpStatusCode.TooManyRequests;
        for (var i = 0; i < 100 && status == HttpStatusCode.TooManyRequests; i++)
        {
            using var again = await server.Http.GetAsync("/api/v1/events/stream", HttpCompletionOption.ResponseHeadersRead);
            status = again.StatusCode;
            if (status == HttpStatusCode.TooManyRequests)
            {
                await Task.Delay(50);
            }
        }
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task LiveSseStream_WithNothingToSend_AnswersStatusAndHeadersAtOnce()
    {
        // Pings come every 15 s; the status must not wait for the first of them (or for an event).
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var response = await server.Http.GetAsync("/api/v1/events/stream?event_type=WorkflowRetried", HttpCompletionOption.ResponseHeadersRead, cts.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task ActivityWebSocket_ClientThatStopsReading_IsDroppedNotBuffered()
    {
        var activityId = await ActivityStreamTests.LeaseAsync(server);
        using var socket = NewSocket();
        socket.Options.SetBuffer(4096, 4096);
        await socket.ConnectAsync(new Uri(server.BaseUrl.Replace("http://", "ws://", StringComparison.Ordinal) + $"/api/v1/activities/{activityId}/ws"),
            CancellationToken.None);
        // 300 chunks of 60,000 characters (18 MB), far more than the socket buffers and the subscriber's 4 Mi characters.
        var chunk = new string('x', 60_000);
        const int Chunks = 300;
        for (var i = 0; i < Chunks; i++)
        {
            var (status, body) = await server.PostAsync($"/api/v1/activities/{activityId}/ws/token",
                new JsonObject { ["text"] = chunk, ["index"] = i, ["worker_id"] = "w_stream" });
            Assert.True(status == 200, body.ToJsonString());
        }

        var tokens = 0;
        JsonObject? last = null;
        var buffer = new byte[128 * 1024];
        using var message = new MemoryStream();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, cts.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    last = JsonNode.Parse(Encoding.UTF8.GetString(message.ToArray()))!.AsObject();
                    message.SetLength(0);
                    tokens += (string?)last["type"] == "token" ? 1 : 0;
                }
            }
        }
        catch (WebSocketException)
        {
            // Cut after the grace: the client did not read for too long.
        }

        Assert.True(tokens < Chunks, $"the slow client got all {tokens} chunks: the server buffered them");
        if (socket.CloseStatus is { } code)
        {
            Assert.Equal((WebSocketCloseStatus)4002, code);
            Assert.Equal("SLOW_CLIENT", last!["code"]!.GetValue<string>());
        }
    }

    [Fact]
    public void ActivityStreamSubscriber_OverCharacterBudget_IsMarkedSlow()
    {
        var stream = new ActivityStream("a");
        var subscriber = stream.Subscribe();
        var chunk = new string('x', 64 * 1024);
        var fits = (int)((ActivityStream.MaxRetainedBytes + ActivityStream.SubscriberBufferChars) / chunk.Length);
        for (var i = 0; i <= fits; i++)
        {
            stream.Append(chunk, terminal: false);
        }

        Assert.True(subscriber.Overflowed);
        Assert.True(subscriber.Reader.Count <= fits, $"{subscriber.Reader.Count} frames buffered");
    }
}

/// <summary>WebSockets close with 1001 when the server shuts down (a server of its own, since it is stopped).</summary>
public sealed class StreamShutdownTests
{
    [Fact]
    public async Task ActivityWebSocket_ServerShutsDown_ClosesWith1001AfterAnErrorFrame()
    {
        var own = new ServerFixture();
        await own.InitializeAsync();
        try
        {
            await using var ws = await WebSocketSubscription.OpenAsync(own.BaseUrl, $"/api/v1/activities/{Guid.CreateVersion7()}/ws");
            await using var events = await WebSocketSubscription.OpenAsync(own.BaseUrl, "/api/v1/workflow_events/ws");
            var stopping = own.App.StopAsync();

            var frame = await ws.NextAsync();
            var closed = await ws.NextAsync();
            JsonObject? eventsFrame;
            while ((eventsFrame = await events.NextAsync()) is { } f && (string?)f["type"] == "ping")
            {
            }
            await stopping;

            Assert.Equal("SERVER_SHUTDOWN", frame!["code"]!.GetValue<string>());
            Assert.Null(closed);
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, ws.Socket.CloseStatus);
            Assert.Equal("SERVER_SHUTDOWN", eventsFrame!["code"]!.GetValue<string>());
            Assert.Null(await events.NextAsync());
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, events.Socket.CloseStatus);
        }
        finally
        {
            await own.DisposeAsync();
        }
    }
}

/// <summary>Stream tickets on a server that requires tokens.</summary>
[Collection(SecureServerCollection.Name)]
public sealed class StreamTicketTests(SecureServerFixture server)
{
    private async Task<string> AdminTokenAsync()
    {
        var credential = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(server.DataDir, AuthBootstrap.AdminCredentialFile)))!;
        using var response = await server.Http.PostAsync("/api/v1/oauth/token", new StringContent(new JsonObject
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = credential["client_id"]!.GetValue<string>(),
            ["client_secret"] = credential["client_secret"]!.GetValue<string>(),
        }.ToJsonString(), Encoding.UTF8, "application/json"));
        return (await ServerFixture.ReadAsync(response))["access_token"]!.GetValue<string>();
    }

    private async Task<JsonObject> TicketAsync(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/streams/tickets") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await server.Http.SendAsync(request);
        var body = await ServerFixture.ReadAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToJsonString());
        return body;
    }

    [Fact]
    public async Task StreamTicket_OpensAnSseStreamOnceWithoutTheToken()
    {
        var ticket = await TicketAsync(await AdminTokenAsync());
        var value = ticket["ticket"]!.GetValue<string>();

        using var first = await server.Http.GetAsync($"/api/v1/events/stream?ticket={Uri.EscapeDataString(value)}", HttpCompletionOption.ResponseHeadersRead);
        using var second = await server.Http.GetAsync($"/api/v1/events/stream?ticket={Uri.EscapeDataString(value)}", HttpCompletionOption.ResponseHeadersRead);
        var refused = await ServerFixture.ReadAsync(second);

        Assert.Equal(60, ticket["expires_in"]!.GetValue<int>());
        Assert.NotNull(ticket["expires_at"]);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, second.StatusCode);
        Assert.Equal("UNAUTHORIZED", refused["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task StreamTicket_OpensTheWorkflowEventsWebSocket()
    {
        var ticket = (await TicketAsync(await AdminTokenAsync()))["ticket"]!.GetValue<string>();

        await using var ws = await WebSocketSubscription.OpenAsync(server.BaseUrl, $"/api/v1/workflow_events/ws?ticket={Uri.EscapeDataString(ticket)}");

        Assert.Equal(WebSocketState.Open, ws.Socket.State);
    }

    [Fact]
    public async Task StreamTicket_OnANonStreamRouteOrUnknown_Returns401()
    {
        var ticket = (await TicketAsync(await AdminTokenAsync()))["ticket"]!.GetValue<string>();

        using var list = await server.Http.GetAsync($"/api/v1/workflows?ticket={Uri.EscapeDataString(ticket)}");
        using var unknown = await server.Http.GetAsync("/api/v1/events/stream?ticket=st_not_a_ticket", HttpCompletionOption.ResponseHeadersRead);
        using var withoutToken = await server.Http.PostAsync("/api/v1/streams/tickets", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Unauthorized, list.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, withoutToken.StatusCode);
    }

    [Fact]
    public async Task Info_ListsTheStreamFeatures()
    {
        using var response = await server.Http.GetAsync("/api/v1/info");
        var features = (await ServerFixture.ReadAsync(response))["features"]!.AsArray().Select(f => f!.GetValue<string>()).ToList();

        Assert.Contains("sse", features);
        Assert.Contains("websocket", features);
        Assert.Contains("stream-tickets", features);
    }
}

/// <summary>Stream tickets without a server: single use, and worthless after their minute.</summary>
public sealed class StreamTicketStoreTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task Redeem_ExpiredOrUsedTicket_ReturnsNullAndAFreshOneCarriesOnlyTheWorkflowsScope()
    {
        await using var db = await SqliteOneTimeCodes.CreateAsync();
        var time = new ManualTime();
        var tickets = new StreamTickets(db.Codes, time);
        var issuer = new TokenPrincipal("cl_ui", [Scopes.Admin, Scopes.Worker], 0, long.MaxValue);
        var stale = (await tickets.IssueAsync(issuer, CancellationToken.None))!.Value.Ticket;
        time.Now += StreamTickets.Lifetime + TimeSpan.FromSeconds(1);
        var fresh = (await tickets.IssueAsync(issuer, CancellationToken.None))!.Value.Ticket;

        var expired = await tickets.RedeemAsync(stale, CancellationToken.None);
        var first = await tickets.RedeemAsync(fresh, CancellationToken.None);
        var again = await tickets.RedeemAsync(fresh, CancellationToken.None);

        Assert.Null(expired);
        Assert.Equal("cl_ui", first!.ClientId);
        Assert.Equal([Scopes.Workflows], first.Scopes);
        Assert.Null(again);
    }

    [Fact]
    public async Task Issue_ClientHoldingTheLimit_IsRefusedWhileAnotherClientGetsOne()
    {
        await using var db = await SqliteOneTimeCodes.CreateAsync();
        var tickets = new StreamTickets(db.Codes, new ManualTime());
        var busy = new TokenPrincipal("cl_busy", [Scopes.Workflows], 0, long.MaxValue);
        for (var i = 0; i < StreamTickets.LimitPerClient; i++)
        {
            Assert.NotNull(await tickets.IssueAsync(busy, CancellationToken.None));
        }

        var refused = await tickets.IssueAsync(busy, CancellationToken.None);
        var other = await tickets.IssueAsync(busy with { ClientId = "cl_other" }, CancellationToken.None);

        Assert.Null(refused);
        Assert.NotNull(other);
    }
}
