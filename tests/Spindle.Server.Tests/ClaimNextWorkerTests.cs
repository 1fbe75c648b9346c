using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Spindle.TestSupport;
using Spindle.Worker;

namespace Spindle.Server.Tests;

/// <summary>The .NET worker SDK against a real server: the claim-next extension as a worker uses it.</summary>
[Collection(ServerCollection.Name)]
public sealed class ClaimNextWorkerTests(ServerFixture server)
{
    private static string Unique(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    private SpindleWorkerOptions Options(string queue, Action<SpindleWorkerOptions>? configure = null)
    {
        var options = new SpindleWorkerOptions
        {
            ApiUrl = new Uri(server.BaseUrl),
            RoutingKey = queue,
            WorkerId = Unique("w"),
            PollWaitSeconds = 1,
            ShutdownTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        return options;
    }

    private async Task<JsonObject> RunUntilDoneAsync(SpindleWorkerOptions options, ActivityRegistry registry, string definition, string yaml,
        HttpMessageHandler? handler = null)
    {
        await server.DeployAsync(yaml);
        using var api = handler is null ? null : new SpindleApiClient(options, handler);
        using var worker = new SpindleWorker(options, registry, apiClient: api);
        using var stop = new CancellationTokenSource();
        var run = worker.RunAsync(stop.Token);
        try
        {
            var id = await server.SubmitAsync(definition);
            var (status, wf) = await server.GetAsync($"/api/v1/workflows/{id}?wait_seconds=20");
            Assert.Equal(200, status);
            Assert.Equal("completed", wf["status"]!.GetValue<string>());
            return (await server.GetAsync($"/api/v1/workflows/{id}/events")).Body;
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    private static string ChainYaml(string name, string queue) => $$"""
        name: {{name}}
        activities:
          - {key: a, worker: {{queue}}, activity_name: echo, dependency_of: [b]}
          - {key: b, worker: {{queue}}, activity_name: echo, dependency_of: [c]}
          - {key: c, worker: {{queue}}, activity_name: echo}
        """;

    private static ActivityRegistry Echo() =>
        new ActivityRegistry().Register("echo", (context, _) => Task.FromResult(new ActivityResult(new JsonObject { ["echo"] = context.Parameters.DeepClone() })));

    /// <summary>Timestamp of each (type, key) event.</summary>
    private static Dictionary<(string, string), string> Stamps(JsonObject events) =>
        events["events"]!.AsArray().Where(e => e!["activity_key"] is not null)
            .ToDictionary(e => (e!["event_type"]!.GetValue<string>(), e["activity_key"]!.GetValue<string>()), e => e!["timestamp"]!.ToJsonString());

    [Fact]
    public async Task RunAsync_ClaimNextOn_StartsEachNextStepInItsDependencysCompletion()
    {
        var name = Unique("eager_chain");
        var queue = Unique("q");
        var stamps = Stamps(await RunUntilDoneAsync(Options(queue), Echo(), name, ChainYaml(name, queue)));
        Assert.Equal(stamps[("ActivityCompleted", "a")], stamps[("ActivityStarted", "b")]);
        Assert.Equal(stamps[("ActivityCompleted", "b")], stamps[("ActivityStarted", "c")]);
    }

    [Fact]
    public async Task RunAsync_ClaimNextOff_ClaimsEachStepWithAPoll()
    {
        var name = Unique("polled_chain");
        var queue = Unique("q");
        var stamps = Stamps(await RunUntilDoneAsync(Options(queue, o => o.ClaimNext = false), Echo(), name, ChainYaml(name, queue)));
        Assert.NotEqual(stamps[("ActivityCompleted", "a")], stamps[("ActivityStarted", "b")]);
        Assert.NotEqual(stamps[("ActivityCompleted", "b")], stamps[("ActivityStarted", "c")]);
    }

    private static string FanYaml(string name, string queue) =>
        $"name: {name}\nactivities:\n" +
        $"  - {{key: start, worker: {queue}, activity_name: work, dependency_of: [{string.Join(", ", Branches)}]}}\n" +
        string.Concat(Branches.Select(k => $"  - {{key: {k}, worker: {queue}, activity_name: work, dependency_of: [end]}}\n")) +
        $"  - {{key: end, worker: {queue}, activity_name: work}}\n";

    private static readonly List<string> Branches = Enumerable.Range(0, 10).Select(i => $"p{i}").ToList();

    /// <summary>An activity that takes <paramref name="startMs"/> for the start and 20 ms otherwise, counting how many run at once.</summary>
    private static ActivityRegistry CountingWork(StrongBox<int> peak, int startMs = 20) =>
        CountingWork(peak, context => context.ActivityKey == "start" ? startMs : 20);

    /// <summary>An activity that takes <paramref name="delayMs"/>, counting how many run at once.</summary>
    private static ActivityRegistry CountingWork(StrongBox<int> peak, Func<ActivityContext, int> delayMs)
    {
        var running = 0;
        return new ActivityRegistry().Register("work", async (context, ct) =>
        {
            var now = Interlocked.Increment(ref running);
            int seen;
            while ((seen = Volatile.Read(ref peak.Value)) < now && Interlocked.CompareExchange(ref peak.Value, now, seen) != seen)
            {
            }
            await Task.Delay(delayMs(context), ct);
            Interlocked.Decrement(ref running);
            return new ActivityResult([]);
        });
    }

    /// <summary>
    /// Runs a worker of <paramref name="slots"/> slots whose activities take 0 to <paramref name="maxDelayMs"/> ms,
    /// submits with <paramref name="submitAll"/> and waits until every workflow completed; answers the most activities
    /// that ran at once.
    /// </summary>
    private async Task<int> RunUntilAllCompleteAsync(string queue, int slots, int maxDelayMs, Func<Task<List<string>>> submitAll)
    {
        var peak = new StrongBox<int>();
        var registry = CountingWork(peak, _ => Random.Shared.Next(0, maxDelayMs));
        using var worker = new SpindleWorker(Options(queue, o => { o.MaxConcurrency = slots; o.PollBatchSize = slots; }), registry);
        using var stop = new CancellationTokenSource();
        var run = worker.RunAsync(stop.Token);
        try
        {
            foreach (var id in await submitAll())
            {
                var (status, wf) = await server.GetAsync($"/api/v1/workflows/{id}?wait_seconds=30");
                Assert.Equal(200, status);
                Assert.Equal("completed", wf["status"]!.GetValue<string>());
            }
        }
        finally
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(10));
        }
        return peak.Value;
    }

    [Theory]
    [InlineData(2, 5, 20)]
    [InlineData(4, 4, 300)] // the long-poll waits on the server holding three slots when the start reports
    public async Task RunAsync_ClaimNextOnWideFanOut_NeverRunsMoreThanMaxConcurrency(int maxConcurrency, int batch, int startMs)
    {
        var name = Unique("eager_fan");
        var queue = Unique("q");
        var peak = new StrongBox<int>();
        var events = await RunUntilDoneAsync(Options(queue, o => { o.MaxConcurrency = maxConcurrency; o.PollBatchSize = batch; }),
            CountingWork(peak, startMs), name, FanYaml(name, queue));
        Assert.InRange(peak.Value, 1, maxConcurrency);
        Assert.Equal(12, events["events"]!.AsArray().Count(e => e!["event_type"]!.GetValue<string>() == "ActivityCompleted"));
    }

    [Fact]
    public async Task RunAsync_ManyFanOutsAtOnce_NeverRunsMoreThanMaxConcurrencyAndFinishesEveryWorkflow()
    {
        // Completions lending the poll's slots, polls answering and combined fan-in reports all at once: every workflow
        // must finish (no slot or report lost between the ledger, the poll registry and the combiner), within the slots.
        var name = Unique("fan_storm");
        var queue = Unique("q");
        await server.DeployAsync(FanYaml(name, queue));
        var peak = await RunUntilAllCompleteAsync(queue, slots: 6, maxDelayMs: 8,
            async () => [.. await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => server.SubmitAsync(name)))]);
        Assert.InRange(peak, 1, 6);
    }

    [Fact]
    public async Task RunAsync_CompletionWhileALongPollLends_TakesFreeSlotsOnlyForItsDependents()
    {
        // Free slots taken up front are held until the completion's answer: ten branches reporting at once took them
        // all, though at most one of them unblocks anything. So a completion reserves free slots only for the
        // activities that depend on it (the claim's dependents): the start for its ten branches (its own slot and
        // nine, the batch caps it at ten), each branch nothing beyond its own slot (one dependent, the end).
        var name = Unique("lend_fan");
        var queue = Unique("q");
        var peak = new StrongBox<int>();
        var completes = new RecordingHandler("/complete");
        var stamps = Stamps(await RunUntilDoneAsync(Options(queue, o => { o.MaxConcurrency = 40; o.PollBatchSize = 10; }),
            CountingWork(peak, startMs: 300), name, FanYaml(name, queue), completes));

        var lending = completes.Bodies.Where(b => b["claim_next_from_poll"] is not null).ToList();
        Assert.NotEmpty(lending); // the start runs long enough for a long-poll to wait while it reports
        var start = completes.Bodies[0];
        Assert.Equal(10, start["claim_next"]!.GetValue<int>());
        Assert.All(completes.Bodies.Skip(1), b => Assert.Equal(1, b["claim_next"]!.GetValue<int>()));
        // Every branch is leased in the start's completion.
        Assert.All(Branches, k => Assert.Equal(stamps[("ActivityCompleted", "start")], stamps[("ActivityStarted", k)]));
        Assert.InRange(peak.Value, 1, 40);
    }

    [Fact]
    public async Task RunAsync_CompletionWithoutALendingPoll_TakesFreeSlotsUpFront()
    {
        // Short polls (wait 0) are not named, so no poll lends on the server: the start's completion asks for its own
        // slot and the free ones, up to the poll batch.
        var name = Unique("free_fan");
        var queue = Unique("q");
        var peak = new StrongBox<int>();
        var completes = new RecordingHandler("/complete");
        var stamps = Stamps(await RunUntilDoneAsync(
            Options(queue, o => { o.MaxConcurrency = 16; o.PollBatchSize = 4; o.PollWaitSeconds = 0; o.PollInterval = TimeSpan.FromMilliseconds(20); }),
            CountingWork(peak, startMs: 100), name, FanYaml(name, queue), completes));

        var start = completes.Bodies[0];
        Assert.Null(start["claim_next_from_poll"]);
        Assert.Equal(4, start["claim_next"]!.GetValue<int>());
        Assert.Equal(4, Branches.Count(k => stamps[("ActivityCompleted", "start")] == stamps[("ActivityStarted", k)]));
        Assert.InRange(peak.Value, 1, 16);
    }

    [Fact]
    public async Task RunAsync_ManySubmitsWhileItsPollWaits_FinishesEveryWorkflowWithinMaxConcurrency()
    {
        // Submits hand their first steps to the waiting long-poll while completions borrow its slots and claim the
        // next steps: no activity may be lost or run beyond the worker's slots between the three.
        var name = Unique("handover_storm");
        var queue = Unique("q");
        await server.DeployAsync(ChainYaml(name, queue).Replace("activity_name: echo", "activity_name: work", StringComparison.Ordinal));
        var peak = await RunUntilAllCompleteAsync(queue, slots: 3, maxDelayMs: 4, async () =>
        {
            var ids = new List<string>();
            for (var wave = 0; wave < 8; wave++)
            {
                ids.AddRange(await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => server.SubmitAsync(name))));
                await Task.Delay(Random.Shared.Next(0, 30)); // lets the poll go back to waiting between some waves
            }
            return ids;
        });
        Assert.InRange(peak, 1, 3);
    }

    /// <summary>Records the JSON bodies the worker sends to paths ending in <paramref name="suffix"/>.</summary>
    private sealed class RecordingHandler(string suffix) : DelegatingHandler(new SocketsHttpHandler())
    {
        private readonly List<JsonObject> _bodies = [];

        public List<JsonObject> Bodies
        {
            get
            {
                lock (_bodies)
                {
                    return [.. _bodies];
                }
            }
        }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is not null && request.RequestUri!.AbsolutePath.EndsWith(suffix, StringComparison.Ordinal))
            {
                var body = JsonNode.Parse(await request.Content.ReadAsStringAsync(cancellationToken))!.AsObject();
                lock (_bodies)
                {
                    _bodies.Add(body);
                }
            }
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
