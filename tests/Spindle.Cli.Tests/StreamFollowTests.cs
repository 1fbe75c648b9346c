using System.Text.Json.Nodes;
using Spindle.Worker;

namespace Spindle.Cli.Tests;

/// <summary><c>spindle run</c> and <c>spindle events --follow</c> following runs over the live streams, against a real server.</summary>
[Collection(ServerCollection.Name)]
public sealed class StreamFollowTests(CliServerFixture server)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Run_Stream_PrintsAnActivitysLiveOutputWhileItRuns()
    {
        var queue = Cli.UniqueName("talkq");
        var stdout = new ConcurrentWriter();
        var registry = new ActivityRegistry().Register("talk", async (context, ct) =>
        {
            await context.StreamAsync("Hel", ct);
            // The rest is published only once the CLI has printed the first chunk: it prints while the activity runs.
            await stdout.WaitForAsync("talk ▸ Hel", Patience);
            await context.StreamAsync("lo, wor", ct);
            await context.StreamAsync("ld", ct);
            return new ActivityResult(new JsonObject { ["said"] = "Hello, world" });
        });
        await using var worker = await TestWorker.StartAsync(server.BaseUrl, queue, registry);
        var file = Cli.WriteFile($"""
            name: {Cli.UniqueName("cli_stream")}
            activities:
              - {"{"}key: talk, worker: {queue}, activity_name: talk{"}"}
              - {"{"}key: after, activity_name: echo, parameters: {"{"}x: 1{"}"}, depends_on: [talk]{"}"}
            """);

        var exitCode = await RunAsync(["run", file, "--stream"], stdout);

        Assert.True(exitCode == 0, stdout.Text);
        Assert.Contains("  talk ▸ Hello, world\n", stdout.Text, StringComparison.Ordinal);
        var lines = stdout.Text.Split('\n');
        var chunkLine = Array.FindIndex(lines, l => l.StartsWith("  talk ▸", StringComparison.Ordinal));
        var completedLine = Array.FindIndex(lines, l => l.StartsWith("  ✓ talk completed", StringComparison.Ordinal));
        Assert.True(chunkLine >= 0 && chunkLine < completedLine, stdout.Text);
        Assert.Contains("output of after:", stdout.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ServerWithEventStream_FollowsItWithoutPolling()
    {
        await using var proxy = await RecordingProxy.StartAsync(server.BaseUrl, withoutEventStreams: false);

        var result = await Cli.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_sse"))), "--input", """{"name": "Ada"}""", "--api-url", proxy.BaseUrl);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("  ✓ summary completed", result.Out, StringComparison.Ordinal);
        Assert.Contains(proxy.Requests, r => r.StartsWith($"GET /api/v1/workflows/{result.WorkflowId}/events/stream", StringComparison.Ordinal));
        Assert.DoesNotContain(proxy.Requests, r => r.Contains("wait_seconds=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Run_ServerWithoutEventStream_FallsBackToPolling()
    {
        await using var proxy = await RecordingProxy.StartAsync(server.BaseUrl, withoutEventStreams: true);

        var result = await Cli.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_poll"))), "--input", """{"name": "Ada"}""", "--api-url", proxy.BaseUrl);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("  ▶ greet scheduled", result.Out, StringComparison.Ordinal);
        Assert.Contains("  ✓ summary completed", result.Out, StringComparison.Ordinal);
        Assert.Contains("\"loud\": \"HELLO, ADA!\"", result.Out, StringComparison.Ordinal);
        Assert.Contains(proxy.Requests, r => r.Contains("/events/stream", StringComparison.Ordinal));
        Assert.Contains(proxy.Requests, r => r.Contains("wait_seconds=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EventsFollow_RunningWorkflow_PrintsNewEventsUntilItEnds()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.StuckFlow(Cli.UniqueName("cli_follow"))), "--timeout", "1");
        var stdout = new ConcurrentWriter();

        var following = RunAsync(["events", run.WorkflowId, "--follow", "--api-url", server.BaseUrl], stdout);
        await stdout.WaitForAsync("ActivityScheduled", Patience);
        Assert.False(following.IsCompleted);
        var cancelled = await server.RunAsync("cancel", run.WorkflowId);
        Assert.True(cancelled.ExitCode == 0, cancelled.ToString());
        var exitCode = await following.WaitAsync(Patience);

        Assert.Equal(0, exitCode);
        var lines = stdout.Text.Trim().Split('\n');
        Assert.Contains("WorkflowCreated", lines[0], StringComparison.Ordinal);
        Assert.Contains("ActivityCancelled", stdout.Text, StringComparison.Ordinal);
        Assert.Contains("WorkflowCancelled", lines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task EventsFollow_FinishedWorkflowWithJson_PrintsOneEventPerLineAndExits()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_followjson"))), "--input", """{"name": "Ada"}""");

        var result = await server.RunAsync("events", run.WorkflowId, "--follow", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var events = result.Out.Trim().Split('\n').Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal("WorkflowCreated", events[0]["event_type"]!.GetValue<string>());
        Assert.Equal("WorkflowCompleted", events[^1]["event_type"]!.GetValue<string>());
        Assert.All(events, e => Assert.Equal(run.WorkflowId, e["workflow_id"]!.GetValue<string>()));
        var (_, history) = await server.GetAsync($"/api/v1/workflows/{run.WorkflowId}/events");
        Assert.Equal(history["events"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()), events.Select(e => e["id"]!.GetValue<string>()));
    }

    private Task<int> RunAsync(string[] args, ConcurrentWriter stdout)
    {
        var all = args.Contains("--api-url") ? args : [.. args, "--api-url", server.BaseUrl];
        return CliApp.RunAsync(all, stdout, new ConcurrentWriter(), CancellationToken.None);
    }

    /// <summary>A .NET SDK worker on its own routing key, stopped on dispose.</summary>
    private sealed class TestWorker(SpindleWorker worker, CancellationTokenSource stop, Task running) : IAsyncDisposable
    {
        public static Task<TestWorker> StartAsync(string baseUrl, string routingKey, ActivityRegistry registry)
        {
            var worker = new SpindleWorker(
                new SpindleWorkerOptions
                {
                    ApiUrl = new Uri(baseUrl),
                    RoutingKey = routingKey,
                    WorkerId = "w_" + routingKey,
                    PollWaitSeconds = 1,
                    ShutdownTimeout = TimeSpan.FromSeconds(5),
                },
                registry);
            var stop = new CancellationTokenSource();
            return Task.FromResult(new TestWorker(worker, stop, worker.RunAsync(stop.Token)));
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(10));
            worker.Dispose();
            stop.Dispose();
        }
    }
}
