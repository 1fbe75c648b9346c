using System.Text.Json.Nodes;
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
            Worker = queue,
            WorkerId = Unique("w"),
            PollWaitSeconds = 1,
            ShutdownTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        return options;
    }

    private async Task<JsonObject> RunUntilDoneAsync(SpindleWorkerOptions options, ActivityRegistry registry, string definition, string yaml)
    {
        await server.DeployAsync(yaml);
        using var worker = new SpindleWorker(options, registry);
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

    [Fact]
    public async Task RunAsync_ClaimNextOnWideFanOut_NeverRunsMoreThanMaxConcurrency()
    {
        var name = Unique("eager_fan");
        var queue = Unique("q");
        var keys = Enumerable.Range(0, 10).Select(i => $"p{i}").ToList();
        var yaml = $"name: {name}\nactivities:\n" +
            $"  - {{key: start, worker: {queue}, activity_name: work, dependency_of: [{string.Join(", ", keys)}]}}\n" +
            string.Concat(keys.Select(k => $"  - {{key: {k}, worker: {queue}, activity_name: work, dependency_of: [end]}}\n")) +
            $"  - {{key: end, worker: {queue}, activity_name: work}}\n";
        int running = 0, peak = 0;
        var registry = new ActivityRegistry().Register("work", async (_, ct) =>
        {
            var now = Interlocked.Increment(ref running);
            int seen;
            while ((seen = Volatile.Read(ref peak)) < now && Interlocked.CompareExchange(ref peak, now, seen) != seen)
            {
            }
            await Task.Delay(20, ct);
            Interlocked.Decrement(ref running);
            return new ActivityResult([]);
        });
        var events = await RunUntilDoneAsync(Options(queue, o => { o.MaxConcurrency = 2; o.PollBatchSize = 5; }), registry, name, yaml);
        Assert.InRange(peak, 1, 2);
        Assert.Equal(12, events["events"]!.AsArray().Count(e => e!["event_type"]!.GetValue<string>() == "ActivityCompleted"));
    }
}
