using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Protocol;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests;

public sealed class SpindleApiClientTests
{
    private static SpindleWorkerOptions Options(Uri apiUrl, string? clientId = null, string? secret = null) => new()
    {
        ApiUrl = apiUrl,
        WorkerId = "worker_client_test",
        ClientId = clientId,
        ClientSecret = secret,
        RequestTimeout = TimeSpan.FromSeconds(5),
    };

    [Fact]
    public async Task PollAsync_TokenAlwaysRejected_FetchesTokenTwiceThenThrowsUnauthorized()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync(requireAuth: true);
        server.RejectAllTokens = true;
        using var client = new SpindleApiClient(Options(server.BaseAddress, server.ClientId, server.ClientSecret));

        SpindleApiException error = await Assert.ThrowsAsync<SpindleApiException>(() => client.PollAsync(1, 0, CancellationToken.None));

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Equal("UNAUTHORIZED", error.ErrorCode);
        Assert.Equal(2, server.TokensIssued);
        Assert.Equal(2, server.UnauthorizedAnswers);
    }

    [Fact]
    public async Task PollAsync_TokenRevokedOnce_RefetchesAndSucceeds()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync(requireAuth: true);
        using var client = new SpindleApiClient(Options(server.BaseAddress, server.ClientId, server.ClientSecret));

        await client.PollAsync(1, 0, CancellationToken.None);
        server.RevokeTokens();
        PollResponse response = await client.PollAsync(1, 0, CancellationToken.None);

        Assert.Empty(response.Activities);
        Assert.Equal(2, server.TokensIssued);
        Assert.Equal(2, client.TokenFetchCount);
        Assert.Equal(1, server.UnauthorizedAnswers);
    }

    [Fact]
    public async Task GetTokenAsync_ConcurrentCallers_FetchOnce()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync(requireAuth: true);
        using var client = new SpindleApiClient(Options(server.BaseAddress, server.ClientId, server.ClientSecret));

        string?[] tokens = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => client.GetTokenAsync(CancellationToken.None)));

        Assert.Single(tokens.Distinct());
        Assert.Equal(1, server.TokensIssued);
    }

    [Fact]
    public async Task GetTokenAsync_BadCredentials_ThrowsUnauthorized()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync(requireAuth: true);
        using var client = new SpindleApiClient(Options(server.BaseAddress, server.ClientId, "wrong"));

        SpindleApiException error = await Assert.ThrowsAsync<SpindleApiException>(() => client.PollAsync(1, 0, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Contains("Invalid client credentials", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetTokenAsync_NoClientId_ReturnsNull()
    {
        using var client = new SpindleApiClient(Options(new Uri("http://127.0.0.1:1/")));
        Assert.Null(await client.GetTokenAsync(CancellationToken.None));
    }

    [Fact]
    public async Task HeartbeatAsync_ActivityOwnedByAnotherWorker_ThrowsLeaseLost()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.Enqueue("a1", "noop");
        using var owner = new SpindleApiClient(Options(server.BaseAddress));
        using var other = new SpindleApiClient(new SpindleWorkerOptions { ApiUrl = server.BaseAddress, WorkerId = "someone_else" });
        PollResponse claimed = await owner.PollAsync(1, 0, CancellationToken.None);
        Assert.Single(claimed.Activities);

        HeartbeatResponse ok = await owner.HeartbeatAsync("a1", CancellationToken.None);
        Assert.True(ok.Acknowledged);
        Assert.Equal(1, ok.NextHeartbeatSeconds);

        LeaseLostException lost = await Assert.ThrowsAsync<LeaseLostException>(() => other.HeartbeatAsync("a1", CancellationToken.None));
        Assert.Equal("a1", lost.ActivityId);
        Assert.Equal(HttpStatusCode.Conflict, lost.StatusCode);

        await Assert.ThrowsAsync<LeaseLostException>(() => other.CompleteAsync("a1", new ActivityResult([]), retryUntil: null, CancellationToken.None));
        SpindleApiException unknown = await Assert.ThrowsAsync<SpindleApiException>(() => owner.HeartbeatAsync("nope", CancellationToken.None));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task CompleteAsync_ServerErrorsPastLeaseDeadline_GivesUp()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.OnReport = (_, _) => 503;
        server.Enqueue("a1", "noop");
        using var client = new SpindleApiClient(Options(server.BaseAddress));
        await client.PollAsync(1, 0, CancellationToken.None);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        SpindleApiException error = await Assert.ThrowsAsync<SpindleApiException>(() =>
            client.CompleteAsync("a1", new ActivityResult([]), DateTimeOffset.UtcNow.AddMilliseconds(600), CancellationToken.None));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task FailAsync_NetworkErrorWithoutDeadline_ThrowsAtOnce()
    {
        using var client = new SpindleApiClient(Options(new Uri("http://127.0.0.1:1/")));
        var error = new ActivityError { Code = "X", Message = "y", Retryable = false };
        await Assert.ThrowsAsync<HttpRequestException>(() => client.FailAsync("a1", error, retryUntil: null, CancellationToken.None));
    }

    [Fact]
    public void Serialize_CompleteRequest_UsesSnakeCaseDecimalStringsAndOmitsNulls()
    {
        var request = new CompleteRequest
        {
            WorkerId = "w1",
            Output = new JsonObject { ["result"] = new JsonObject { ["score"] = 0.93 } },
            CostUsd = 0.0150m,
            Usage = [new UsageLine { Provider = "anthropic", Model = "claude-haiku-4-5", InputTokens = 1200, OutputTokens = 150, CostUsd = 0.0021m }],
        };

        string json = JsonSerializer.Serialize(request, SpindleJsonContext.Default.CompleteRequest);

        Assert.Equal(
            """{"worker_id":"w1","output":{"result":{"score":0.93}},"cost_usd":"0.0150","usage":[{"provider":"anthropic","model":"claude-haiku-4-5","input_tokens":1200,"output_tokens":150,"cache_read_tokens":0,"cache_creation_tokens":0,"cost_usd":"0.0021"}]}""",
            json);
    }

    [Fact]
    public void Serialize_FailRequest_AlwaysWritesRetryable()
    {
        var request = new FailRequest { WorkerId = "w1", Error = new ActivityError { Code = "CANCELLED", Message = "stop", Retryable = false } };
        string json = JsonSerializer.Serialize(request, SpindleJsonContext.Default.FailRequest);
        Assert.Equal("""{"worker_id":"w1","error":{"code":"CANCELLED","message":"stop","retryable":false}}""", json);
    }

    [Fact]
    public void Serialize_PollRequest_OmitsUnsetExtensions()
    {
        var request = new PollRequest { RoutingKey = "std", WorkerId = "w1", MaxActivities = 3 };
        Assert.Equal("""{"worker":"std","worker_id":"w1","max_activities":3}""", JsonSerializer.Serialize(request, SpindleJsonContext.Default.PollRequest));

        request = request with { WaitSeconds = 20, ActivityNames = ["script"] };
        Assert.Equal("""{"worker":"std","worker_id":"w1","max_activities":3,"wait_seconds":20,"activity_names":["script"]}""", JsonSerializer.Serialize(request, SpindleJsonContext.Default.PollRequest));
    }

    [Fact]
    public void Deserialize_ClaimedActivityFromSpec_ReadsEveryField()
    {
        const string json = """
            {"activity_id": "0190a", "workflow_id": "0190b", "activity_key": "summary", "worker": "py-std", "activity_name": "script",
             "parameters": {"script": "OUTPUT = INPUT", "inputs": {"charged": true}},
             "settings": {"timeout_seconds": 120, "retry": {"max_attempts": 3}}, "timeout_seconds": 120,
             "output_definitions": [{"name": "report", "type": "file"}], "signal_data": {"approved": true},
             "attempt": 2, "iteration": 1, "lease_seconds": 120, "unknown_future_field": 1}
            """;
        ClaimedActivity claim = JsonSerializer.Deserialize(json, SpindleJsonContext.Default.ClaimedActivity)!;

        Assert.Equal("0190a", claim.ActivityId);
        Assert.Equal("summary", claim.ActivityKey);
        Assert.Equal("script", claim.ActivityName);
        Assert.Equal(120, claim.TimeoutSeconds);
        Assert.Equal(2, claim.Attempt);
        Assert.Equal(1, claim.Iteration);
        Assert.Equal(120, claim.LeaseSeconds);
        Assert.True((bool)claim.SignalData!["approved"]!);
        Assert.Equal("report", (string?)claim.OutputDefinitions![0]!["name"]);

        ActivityContext context = ActivityContext.FromClaim(claim);
        Assert.Equal("OUTPUT = INPUT", (string?)context.Parameters["script"]);
        Assert.Equal(3, (int)context.Settings!["retry"]!["max_attempts"]!);
    }

    [Fact]
    public void Deserialize_ClaimWithNullTimeoutAndNoExtras_UsesDefaults()
    {
        ClaimedActivity claim = JsonSerializer.Deserialize("""{"activity_id":"a","workflow_id":"w","activity_key":"k","worker":"std","activity_name":"echo","parameters":null,"settings":null,"timeout_seconds":null}""", SpindleJsonContext.Default.ClaimedActivity)!;
        Assert.Null(claim.TimeoutSeconds);
        Assert.Equal(1, claim.Attempt);
        Assert.Equal(60, SpindleWorker.ResolveLeaseSeconds(claim));
        Assert.Empty(ActivityContext.FromClaim(claim).Parameters);
    }
}
