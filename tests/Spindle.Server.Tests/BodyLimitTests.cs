using System.Text;
using System.Text.Json.Nodes;
using Spindle.TestSupport;
using Spindle.Worker;

namespace Spindle.Server.Tests;

/// <summary>A server whose body limit is 1 MiB, so that going over it costs little.</summary>
public sealed class SmallBodyServerFixture : ServerFixture
{
    public const long Limit = 1024 * 1024;

    protected override void Configure(ServerOptions options) => options.MaxRequestBodyBytes = Limit;
}

/// <summary>
/// The body limit as clients see it: advertised by <c>/api/v1/info</c>, enforced with a 413 envelope, and kept by
/// the .NET worker, which reports a result over it as an <c>OUTPUT_TOO_LARGE</c> failure instead of retrying.
/// </summary>
public sealed class BodyLimitTests(SmallBodyServerFixture server) : IClassFixture<SmallBodyServerFixture>
{
    private static readonly string OverLimit = new('x', (int)SmallBodyServerFixture.Limit + 1024);

    private static string Unique(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task GetInfo_Always_AdvertisesBodyAndDepthLimits()
    {
        var (status, info) = await server.GetAsync("/api/v1/info");
        Assert.Equal(200, status);
        Assert.Equal(SmallBodyServerFixture.Limit, info["limits"]!["max_body_bytes"]!.GetValue<long>());
        Assert.Equal(64, info["limits"]!["max_json_depth"]!.GetValue<int>());
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public async Task Post_BodyOverTheLimit_413EnvelopeNamingTheLimit(bool withLength, bool expectContinue)
    {
        var json = new JsonObject { ["definition_name"] = "x", ["input"] = new JsonObject { ["big"] = OverLimit } }.ToJsonString();
        HttpContent content = withLength
            ? new StringContent(json, Encoding.UTF8, "application/json")
            : new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(json))); // chunked: no length to check up front
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workflows") { Content = content };
        request.Headers.ExpectContinue = expectContinue;
        using var response = await server.Http.SendAsync(request);
        var body = await ServerFixture.ReadAsync(response);
        Assert.Equal(413, (int)response.StatusCode);
        Assert.Equal("PAYLOAD_TOO_LARGE", body["error"]!["code"]!.GetValue<string>());
        Assert.Contains($"limit of {SmallBodyServerFixture.Limit} bytes", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Worker_ResultOverTheAdvertisedLimit_FailsWithOutputTooLargeWithoutSendingIt()
    {
        // The worker learns the limit from /api/v1/info (its own default is 50 MiB).
        var (id, wf, completes) = await RunAsync(options => options.PollWaitSeconds = 1);
        AssertOutputTooLarge(id, wf);
        Assert.Equal(0, completes);
    }

    [Fact]
    public async Task Worker_ServerAnswers413_FailsWithOutputTooLargeWithoutRetrying()
    {
        // Without /api/v1/info (no long-poll, no claim-next, no batched reports) the worker believes the limit is larger: the server's
        // 413 must be read and end the activity, not be retried until the lease runs out.
        var (id, wf, completes) = await RunAsync(options =>
        {
            options.PollWaitSeconds = 0;
            options.ClaimNext = false;
            options.BatchReports = false;
            options.MaxRequestBodyBytes = 100L * 1024 * 1024;
        });
        AssertOutputTooLarge(id, wf);
        Assert.Equal(1, completes);
    }

    [Fact]
    public async Task Worker_ResultNestedTooDeep_FailsWithTheServersReasonWithoutRetrying()
    {
        var deep = new JsonObject();
        for (var i = 1; i < 70; i++)
        {
            deep = new JsonObject { ["n"] = deep };
        }
        var (id, wf, completes) = await RunAsync(options => options.PollWaitSeconds = 1, deep);
        Assert.True(wf["status"]!.GetValue<string>() == "failed", $"workflow {id}: {wf.ToJsonString()}");
        var activity = wf["activities"]!.AsArray().Single()!;
        Assert.Equal("OUTPUT_INVALID", activity["error_detail"]!["code"]!.GetValue<string>());
        Assert.Contains("output: nested deeper than 64 levels", activity["error_detail"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(1, activity["attempt"]!.GetValue<int>());
        Assert.Equal(1, completes);
    }

    private static void AssertOutputTooLarge(string id, JsonObject wf)
    {
        Assert.True(wf["status"]!.GetValue<string>() == "failed", $"workflow {id}: {wf.ToJsonString()}");
        var activity = wf["activities"]!.AsArray().Single()!;
        Assert.Equal("OUTPUT_TOO_LARGE", activity["error_detail"]!["code"]!.GetValue<string>());
        Assert.Contains($"{SmallBodyServerFixture.Limit} bytes", activity["error_detail"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(1, activity["attempt"]!.GetValue<int>()); // not retryable: failed at once, though retries were allowed
    }

    private async Task<(string Id, JsonObject Workflow, int Completes)> RunAsync(Action<SpindleWorkerOptions> configure, JsonObject? output = null)
    {
        var name = Unique("huge");
        var queue = Unique("q");
        await server.DeployAsync($"""
            name: {name}
            activities:
              - key: a
                worker: {queue}
                activity_name: huge
                settings:
                  retry:
                    max_attempts: 3
            """);
        var options = new SpindleWorkerOptions
        {
            ApiUrl = new Uri(server.BaseUrl),
            RoutingKey = queue,
            WorkerId = Unique("w"),
            PollInterval = TimeSpan.FromMilliseconds(50),
            ShutdownTimeout = TimeSpan.FromSeconds(5),
        };
        configure(options);
        var registry = new ActivityRegistry().Register("huge", (_, _) => Task.FromResult(new ActivityResult(output?.DeepClone().AsObject() ?? new JsonObject { ["big"] = OverLimit })));
        using var counter = new CompleteCounter(new SocketsHttpHandler());
        using var api = new SpindleApiClient(options, counter);
        using var worker = new SpindleWorker(options, registry, apiClient: api);
        using var stop = new CancellationTokenSource();
        var run = worker.RunAsync(stop.Token);
        try
        {
            var id = await server.SubmitAsync(name);
            var (status, wf) = await server.GetAsync($"/api/v1/workflows/{id}?wait_seconds=30");
            Assert.Equal(200, status);
            return (id, wf, counter.Completes);
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Counts the completions the worker actually sends.</summary>
    private sealed class CompleteCounter(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private int _completes;

        public int Completes => Volatile.Read(ref _completes);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath.EndsWith("/complete", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _completes);
            }
            return base.SendAsync(request, cancellationToken);
        }
    }
}
