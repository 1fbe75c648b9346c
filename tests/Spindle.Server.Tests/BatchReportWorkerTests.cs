using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Spindle.TestSupport;
using Spindle.Worker;

namespace Spindle.Server.Tests;

/// <summary>
/// The .NET worker SDK against a real server: results that finish while a report is in flight go together in one
/// <c>POST /api/v1/workers/report</c>, each recorded exactly once; a server without the route gets single reports.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class BatchReportWorkerTests(ServerFixture server)
{
    private const int Leaves = 8;

    private static string Unique(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    private static string FanYaml(string name, string queue) =>
        $"name: {name}\nactivities:\n  - {{key: root, worker: {queue}, activity_name: root}}\n" +
        string.Concat(Enumerable.Range(0, Leaves).Select(i =>
            $"  - {{key: leaf{i}, worker: {queue}, activity_name: leaf, parameters: {{i: {i}}}, depends_on: [root]}}\n"));

    /// <summary>The leaves wait until all of them run, then finish together.</summary>
    private static ActivityRegistry Together()
    {
        var running = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return new ActivityRegistry()
            .Register("root", (_, _) => Task.FromResult(new ActivityResult([])))
            .Register("leaf", async (context, ct) =>
            {
                if (Interlocked.Increment(ref running) == Leaves)
                {
                    all.TrySetResult();
                }
                await all.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
                return new ActivityResult(new JsonObject { ["i"] = context.Parameters["i"]!.DeepClone() });
            });
    }

    private async Task<(string Id, Recorder Calls)> RunFanOutAsync(Action<SpindleWorkerOptions>? configure = null, bool withoutRoute = false)
    {
        var name = Unique("batch_fan");
        var queue = Unique("q");
        await server.DeployAsync(FanYaml(name, queue));
        var options = new SpindleWorkerOptions
        {
            ApiUrl = new Uri(server.BaseUrl),
            RoutingKey = queue,
            WorkerId = Unique("w"),
            MaxConcurrency = 16,
            PollWaitSeconds = 1,
            ShutdownTimeout = TimeSpan.FromSeconds(5),
            BatchReports = true, // off by default (docs/performance-notes.md); these tests are about batching
        };
        configure?.Invoke(options);
        var calls = new Recorder(new SocketsHttpHandler(), withoutRoute);
        using var api = new SpindleApiClient(options, calls);
        using var worker = new SpindleWorker(options, Together(), apiClient: api);
        using var stop = new CancellationTokenSource();
        var run = worker.RunAsync(stop.Token);
        try
        {
            var id = await server.SubmitAsync(name);
            var (status, wf) = await server.GetAsync($"/api/v1/workflows/{id}?wait_seconds=30");
            Assert.Equal(200, status);
            Assert.True(wf["status"]!.GetValue<string>() == "completed", wf.ToJsonString());
            var (_, events) = await server.GetAsync($"/api/v1/workflows/{id}/events");
            var completed = events["events"]!.AsArray()
                .Where(e => e!["event_type"]!.GetValue<string>() == "ActivityCompleted")
                .Select(e => e!["activity_key"]!.GetValue<string>())
                .Order(StringComparer.Ordinal).ToList();
            // Each result recorded exactly once.
            Assert.Equal(["leaf0", "leaf1", "leaf2", "leaf3", "leaf4", "leaf5", "leaf6", "leaf7", "root"], completed);
            for (var i = 0; i < Leaves; i++)
            {
                var (_, output) = await server.GetAsync($"/api/v1/workflows/{id}/activities/leaf{i}/output");
                Assert.Equal(i, output["output"]![0]!["value"]!.GetValue<int>());
            }
            return (id, calls);
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task RunAsync_ResultsFinishingTogether_GoInOneBatchAndEachIsRecordedOnce()
    {
        var (_, calls) = await RunFanOutAsync();

        Assert.NotEmpty(calls.Batches);
        Assert.All(calls.Batches, b => Assert.True(b.Count >= 2, "a lone result goes through its own route"));
        Assert.True(calls.Batches.Count + calls.Singles.Count < Leaves + 1, "fewer requests than results");
        // Every result sent once, through one route or the other.
        var sent = calls.Singles.Concat(calls.Batches.SelectMany(b => b)).ToList();
        Assert.Equal(Leaves + 1, sent.Count);
        Assert.Equal(Leaves + 1, sent.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public async Task RunAsync_ServerWithoutTheRoute_FallsBackToSingleReports()
    {
        var (_, calls) = await RunFanOutAsync(withoutRoute: true);

        Assert.Equal(1, calls.Refused); // tried once, then never again
        Assert.Empty(calls.Batches);
        Assert.Equal(Leaves + 1, calls.Singles.Count);
        Assert.Equal(Leaves + 1, calls.Singles.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public async Task RunAsync_BatchReportsOff_SendsEveryResultAlone()
    {
        var (_, calls) = await RunFanOutAsync(o => o.BatchReports = false);

        Assert.Equal(0, calls.Refused);
        Assert.Empty(calls.Batches);
        Assert.Equal(Leaves + 1, calls.Singles.Count);
    }

    /// <summary>
    /// Records the reports the worker sends (the activity ids of single reports, and of each batch); with
    /// <c>withoutRoute</c> it answers the batched route 404 itself, as a server without it would.
    /// </summary>
    private sealed class Recorder(HttpMessageHandler inner, bool withoutRoute) : DelegatingHandler(inner)
    {
        private readonly Lock _gate = new();
        private readonly List<string> _singles = [];
        private readonly List<List<string>> _batches = [];
        private int _refused;

        public List<string> Singles
        {
            get
            {
                lock (_gate)
                {
                    return [.. _singles];
                }
            }
        }

        public List<List<string>> Batches
        {
            get
            {
                lock (_gate)
                {
                    return [.. _batches];
                }
            }
        }

        public int Refused => Volatile.Read(ref _refused);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            if (path.EndsWith("/workers/report", StringComparison.Ordinal))
            {
                if (withoutRoute)
                {
                    Interlocked.Increment(ref _refused);
                    return new HttpResponseMessage(HttpStatusCode.NotFound)
                    {
                        Content = new StringContent("""{"error":{"code":"NOT_FOUND","message":"No such route"}}""", Encoding.UTF8, "application/json"),
                    };
                }
                var body = JsonNode.Parse(await request.Content!.ReadAsStringAsync(cancellationToken))!;
                var ids = body["reports"]!.AsArray().Select(r => r!["activity_id"]!.GetValue<string>()).ToList();
                var response = await base.SendAsync(request, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    lock (_gate)
                    {
                        _batches.Add(ids);
                    }
                }
                return response;
            }
            if (path.EndsWith("/complete", StringComparison.Ordinal) || path.EndsWith("/fail", StringComparison.Ordinal))
            {
                var single = await base.SendAsync(request, cancellationToken);
                if (single.IsSuccessStatusCode)
                {
                    lock (_gate)
                    {
                        _singles.Add(path.Split('/')[^2]);
                    }
                }
                return single;
            }
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
