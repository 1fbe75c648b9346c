using System.Diagnostics;
using System.Text.Json.Nodes;
using Spindle.Worker.Std;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests;

/// <summary>The poll loop against <see cref="ScriptedProtocolServer"/> (a scripted stand-in for the real server).</summary>
public sealed class SpindleWorkerTests
{
    private static readonly TimeSpan Eventually = TimeSpan.FromSeconds(5);

    private static SpindleWorkerOptions Options(ScriptedProtocolServer server, Action<SpindleWorkerOptions>? configure = null)
    {
        var options = new SpindleWorkerOptions
        {
            ApiUrl = server.BaseAddress,
            WorkerId = "worker_test",
            PollWaitSeconds = 1,
            PollInterval = TimeSpan.FromMilliseconds(10),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            ShutdownTimeout = TimeSpan.FromMilliseconds(300),
            DefaultActivityTimeout = TimeSpan.FromSeconds(10),
            RequestTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>Runs a worker until the returned handle is disposed (which drains it and checks it stopped).</summary>
    private static RunningWorker Run(SpindleWorkerOptions options, ActivityRegistry registry)
    {
        var worker = new SpindleWorker(options, registry);
        var stop = new CancellationTokenSource();
        Task run = worker.RunAsync(stop.Token);
        return new RunningWorker(worker, stop, run);
    }

    private sealed class RunningWorker(SpindleWorker worker, CancellationTokenSource stop, Task run) : IAsyncDisposable
    {
        public SpindleWorker Worker { get; } = worker;

        public Task Run { get; } = run;

        public async Task StopAsync()
        {
            await stop.CancelAsync();
            await Run.WaitAsync(TimeSpan.FromSeconds(10));
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            Worker.Dispose();
            stop.Dispose();
        }
    }

    [Fact]
    public async Task RunAsync_MoreActivitiesThanSlots_NeverExceedsMaxConcurrency()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        int running = 0;
        int maxRunning = 0;
        var registry = new ActivityRegistry().Register("work", async (context, ct) =>
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxRunning, now);
            await Task.Delay(100, ct);
            Interlocked.Decrement(ref running);
            return new ActivityResult(new JsonObject { ["id"] = context.ActivityId });
        });
        for (int i = 0; i < 6; i++)
        {
            server.Enqueue($"a{i}", "work");
        }

        await using (RunningWorker worker = Run(Options(server, o => o.MaxConcurrency = 2), registry))
        {
            for (int i = 0; i < 6; i++)
            {
                Report report = await server.WaitForReportAsync($"a{i}", Eventually);
                Assert.Equal("complete", report.Kind);
            }
        }

        Assert.Equal(2, maxRunning);
        Assert.All(server.Polls, p => Assert.InRange(p.MaxActivities, 1, 2));
        Assert.Contains(server.Polls, p => p.MaxActivities == 2);
        Assert.All(server.Polls, p => Assert.Equal(1, p.WaitSeconds));
    }

    [Fact]
    public async Task RunAsync_BatchSizeSmallerThanFreeSlots_AsksForBatchSize()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var registry = new ActivityRegistry().Register("noop", _ => new ActivityResult([]));
        server.Enqueue("a1", "noop");

        await using (Run(Options(server, o => { o.MaxConcurrency = 16; o.PollBatchSize = 3; }), registry))
        {
            await server.WaitForReportAsync("a1", Eventually);
        }

        Assert.All(server.Polls, p => Assert.Equal(3, p.MaxActivities));
    }

    [Fact]
    public async Task RunAsync_HandlerOutlivesHeartbeatInterval_SendsHeartbeatsThenCompletes()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var registry = new ActivityRegistry().Register("slow", async (_, ct) =>
        {
            // Runs until the worker has sent two heartbeats (at most the activity's timeout), however slow the machine:
            // a fixed 600 ms saw one heartbeat on a loaded CI machine.
            while (server.Heartbeats.Count(id => id == "a1") < 2)
            {
                await Task.Delay(10, ct);
            }
            return new ActivityResult(new JsonObject { ["done"] = true });
        });
        server.Enqueue("a1", "slow");

        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("complete", report.Kind);
            Assert.True((bool)report.Output!["done"]!);
            Assert.Equal("worker_test", (string?)report.Body["worker_id"]);
        }

        Assert.InRange(server.Heartbeats.Count(id => id == "a1"), 2, 8);
    }

    [Fact]
    public async Task RunAsync_HeartbeatAnswers409_CancelsHandlerAndReportsNothing()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.OnHeartbeat = (_, _) => HeartbeatReply.Conflict;
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var registry = new ActivityRegistry().Register("forever", async (_, ct) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                cancelled.TrySetResult();
                throw;
            }

            return new ActivityResult([]);
        });
        server.Enqueue("a1", "forever");

        await using (RunningWorker worker = Run(Options(server), registry))
        {
            await cancelled.Task.WaitAsync(Eventually);
            await WaitUntilAsync(() => worker.Worker.RunningCount == 0);
            await Task.Delay(100);
        }

        Assert.Empty(server.ReportsFor("a1"));
        Assert.Single(server.Heartbeats, id => id == "a1");
    }

    [Fact]
    public async Task RunAsync_HeartbeatAnswers500_KeepsRunningAndCompletes()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.OnHeartbeat = (_, _) => HeartbeatReply.ServerError;
        var registry = new ActivityRegistry().Register("slow", async (_, ct) =>
        {
            await Task.Delay(500, ct);
            return new ActivityResult([]);
        });
        server.Enqueue("a1", "slow");

        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("complete", report.Kind);
        }

        Assert.True(server.Heartbeats.Count(id => id == "a1") >= 2);
    }

    [Fact]
    public async Task RunAsync_HeartbeatCancelRequested_ReportsCancelledNotRetryable()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.OnHeartbeat = (_, number) => number >= 2 ? HeartbeatReply.CancelRequested : HeartbeatReply.Ok;
        bool sawCancellation = false;
        var registry = new ActivityRegistry().Register("forever", async (_, ct) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                sawCancellation = true;
                throw;
            }

            return new ActivityResult([]);
        });
        server.Enqueue("a1", "forever");

        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("fail", report.Kind);
            Assert.Equal("CANCELLED", report.ErrorCode);
            Assert.False(report.Retryable);
            Assert.NotNull(report.Body["error"]!["retryable"]);
        }

        Assert.True(sawCancellation);
    }

    [Fact]
    public async Task RunAsync_HandlerExceedsDefaultTimeout_ReportsTimeoutRetryable()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var registry = new ActivityRegistry().Register("forever", async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return new ActivityResult([]);
        });
        server.Enqueue("a1", "forever", timeoutSeconds: null);

        var watch = Stopwatch.StartNew();
        await using (Run(Options(server, o => o.DefaultActivityTimeout = TimeSpan.FromMilliseconds(300)), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("fail", report.Kind);
            Assert.Equal("TIMEOUT", report.ErrorCode);
            Assert.True(report.Retryable);
        }

        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public async Task RunAsync_HandlerExceedsSettingsTimeout_ReportsTimeoutOfSettings()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var registry = new ActivityRegistry().Register("forever", async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return new ActivityResult([]);
        });
        server.Enqueue("a1", "forever", timeoutSeconds: 1);

        await using (Run(Options(server, o => o.DefaultActivityTimeout = TimeSpan.FromSeconds(30)), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("TIMEOUT", report.ErrorCode);
            Assert.Contains("1 s", report.ErrorMessage, StringComparison.Ordinal);
            Assert.True(report.Retryable);
        }
    }

    [Fact]
    public async Task RunAsync_StoppedWhileHandlersRun_ShortOnesCompleteLongOnesReportWorkerShutdown()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var started = new CountdownEvent(3);
        var registry = new ActivityRegistry()
            .Register("short", async (_, ct) =>
            {
                started.Signal();
                await Task.Delay(150, ct);
                return new ActivityResult(new JsonObject { ["finished"] = true });
            })
            .Register("long", async (_, ct) =>
            {
                started.Signal();
                await Task.Delay(Timeout.Infinite, ct);
                return new ActivityResult([]);
            })
            .Register("stubborn", async (_, _) =>
            {
                started.Signal();
                await Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None); // ignores cancellation
                return new ActivityResult([]);
            });
        server.Enqueue("short", "short");
        server.Enqueue("long", "long");
        server.Enqueue("stubborn", "stubborn");

        RunningWorker worker = Run(Options(server, o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(600)), registry);
        await using (worker)
        {
            Assert.True(started.Wait(Eventually));
            var watch = Stopwatch.StartNew();
            await worker.StopAsync();
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"drain took {watch.Elapsed}");

            // Every report is sent before RunAsync returns.
            Report shortReport = Assert.Single(server.ReportsFor("short"));
            Assert.Equal("complete", shortReport.Kind);
            foreach (string id in new[] { "long", "stubborn" })
            {
                Report report = Assert.Single(server.ReportsFor(id));
                Assert.Equal("fail", report.Kind);
                Assert.Equal("WORKER_SHUTDOWN", report.ErrorCode);
                Assert.True(report.Retryable);
            }
        }
    }

    [Fact]
    public async Task RunAsync_StoppedDuringLongPoll_AbortsThePollAndReturnsPromptly()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        RunningWorker worker = Run(Options(server, o => o.PollWaitSeconds = 20), new ActivityRegistry());
        await using (worker)
        {
            await WaitUntilAsync(() => !server.Polls.IsEmpty);
            await Task.Delay(100);
            var watch = Stopwatch.StartNew();
            await worker.StopAsync();
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"stop took {watch.Elapsed}");
        }

        Assert.Equal(20, server.Polls.First().WaitSeconds);
        await WaitUntilAsync(() => Volatile.Read(ref server.AbortedPolls) >= 1);
    }

    [Fact]
    public async Task RunAsync_ServerWithoutLongPoll_PollsWithoutWaitSecondsAndSleepsBetweenEmptyPolls()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync(longPoll: false);
        var registry = new ActivityRegistry().Register("noop", _ => new ActivityResult([]));
        await using (Run(Options(server, o => o.PollInterval = TimeSpan.FromMilliseconds(50)), registry))
        {
            await Task.Delay(300);
            server.Enqueue("a1", "noop");
            await server.WaitForReportAsync("a1", Eventually);
        }

        Assert.All(server.Polls, p => Assert.Null(p.WaitSeconds));
        Assert.InRange(server.Polls.Count, 2, 20);
    }

    [Fact]
    public async Task RunAsync_TokenRevoked_RefetchesTokenOnceAndCompletes()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync(requireAuth: true);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var registry = new ActivityRegistry().Register("gated", async (_, ct) =>
        {
            await release.Task.WaitAsync(ct);
            return new ActivityResult(new JsonObject { ["ok"] = true });
        });
        server.Enqueue("a1", "gated");

        await using (Run(Options(server, o => { o.ClientId = server.ClientId; o.ClientSecret = server.ClientSecret; o.HeartbeatInterval = TimeSpan.FromSeconds(30); }), registry))
        {
            await WaitUntilAsync(() => !server.Polls.IsEmpty && server.TokensIssued == 1);
            await Task.Delay(100);
            server.RevokeTokens();
            release.SetResult();
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("complete", report.Kind);
        }

        Assert.Equal(2, server.TokensIssued);
        Assert.True(server.UnauthorizedAnswers >= 1);
        Assert.All(server.AuthorizationHeaders, h => Assert.StartsWith("Bearer tok-", h, StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_NoClientId_SendsNoAuthorizationHeader()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var registry = new ActivityRegistry().Register("noop", _ => new ActivityResult([]));
        server.Enqueue("a1", "noop");
        await using (Run(Options(server), registry))
        {
            await server.WaitForReportAsync("a1", Eventually);
        }

        Assert.Equal(0, server.TokensIssued);
        Assert.All(server.AuthorizationHeaders, Assert.Null);
    }

    [Fact]
    public async Task RunAsync_UnknownActivityName_ReportsExecutionErrorRetryable()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.Enqueue("a1", "nobody_serves_this");
        await using (Run(Options(server), new ActivityRegistry()))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("EXECUTION_ERROR", report.ErrorCode);
            Assert.True(report.Retryable);
            Assert.Contains("nobody_serves_this", report.ErrorMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task RunAsync_ParametersNotAnObject_ReportsInvalidParametersNotRetryable()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        bool called = false;
        var registry = new ActivityRegistry().Register("noop", _ =>
        {
            called = true;
            return new ActivityResult([]);
        });
        server.Enqueue("a1", "noop", parameters: new JsonArray(1, 2));
        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("INVALID_PARAMETERS", report.ErrorCode);
            Assert.False(report.Retryable);
        }

        Assert.False(called);
    }

    [Fact]
    public async Task RunAsync_MalformedClaim_ReportsInvalidParametersNotRetryable()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.EnqueueRaw(new JsonObject
        {
            ["activity_id"] = "a1",
            ["workflow_id"] = "wf",
            ["activity_key"] = "k",
            ["activity_name"] = "noop",
            ["attempt"] = "not a number",
        });
        var registry = new ActivityRegistry().Register("noop", _ => new ActivityResult([]));
        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("INVALID_PARAMETERS", report.ErrorCode);
            Assert.False(report.Retryable);
        }
    }

    [Fact]
    public async Task RunAsync_ClaimWithNullRequiredString_ReportsInvalidParameters()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.EnqueueRaw(new JsonObject { ["activity_id"] = "a1", ["workflow_id"] = null, ["activity_key"] = "k", ["activity_name"] = "noop" });
        var registry = new ActivityRegistry().Register("noop", _ => new ActivityResult([]));
        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("INVALID_PARAMETERS", report.ErrorCode);
        }
    }

    [Fact]
    public async Task RunAsync_HandlerThrowsActivityFailure_ReportsItsCodeMessageAndRetryable()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var registry = new ActivityRegistry().Register("pay", (ActivityHandler)((_, _) =>
            throw new ActivityFailureException("PAYMENT_DECLINED", "Card declined", retryable: false) { CostUsd = 0.25m }));
        server.Enqueue("a1", "pay");
        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("PAYMENT_DECLINED", report.ErrorCode);
            Assert.Equal("Card declined", report.ErrorMessage);
            Assert.False(report.Retryable);
            Assert.Equal("0.25", (string?)report.Body["cost_usd"]);
        }
    }

    [Fact]
    public async Task RunAsync_HandlerThrowsOtherException_ReportsExecutionErrorRetryable()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var registry = new ActivityRegistry().Register("boom", (ActivityHandler)((_, _) => throw new InvalidOperationException("kaboom")));
        server.Enqueue("a1", "boom");
        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("EXECUTION_ERROR", report.ErrorCode);
            Assert.True(report.Retryable);
            Assert.Equal("InvalidOperationException: kaboom", report.ErrorMessage);
        }
    }

    [Fact]
    public async Task RunAsync_CompleteAnswers503Once_RetriesAndCompletes()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.OnReport = (_, call) => call == 1 ? 503 : null;
        var registry = new ActivityRegistry().Register("noop", _ => new ActivityResult(new JsonObject { ["x"] = 1 }, costUsd: 0.0150m));
        server.Enqueue("a1", "noop");
        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("complete", report.Kind);
            Assert.Equal(1, (int)report.Output!["x"]!);
            Assert.Equal("0.0150", (string?)report.Body["cost_usd"]);
        }
    }

    [Fact]
    public async Task RunAsync_CompleteAnswers409_DropsResultAndKeepsPolling()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.OnReport = (id, _) => id == "a1" ? 409 : null;
        var registry = new ActivityRegistry().Register("noop", _ => new ActivityResult([]));
        server.Enqueue("a1", "noop");
        await using (Run(Options(server), registry))
        {
            await WaitUntilAsync(() => server.Polls.Count >= 2);
            server.Enqueue("a2", "noop");
            Report report = await server.WaitForReportAsync("a2", Eventually);
            Assert.Equal("complete", report.Kind);
        }

        Assert.Empty(server.ReportsFor("a1"));
    }

    [Fact]
    public async Task RunAsync_EchoRegisteredFromStd_CompletesWithEchoOutput()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var registry = new ActivityRegistry();
        await using StdActivities std = StdActivities.Register(registry);
        server.Enqueue("a1", "echo", parameters: new JsonObject { ["greeting"] = "hi", ["n"] = 3 });
        await using (Run(Options(server), registry))
        {
            Report report = await server.WaitForReportAsync("a1", Eventually);
            Assert.Equal("""{"echo":{"greeting":"hi","n":3}}""", report.Output!.ToJsonString());
        }
    }

    [Fact]
    public async Task RunAsync_ServerDown_BacksOffAndRecoversWithoutThrowing()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        var options = Options(server, o => o.ApiUrl = new Uri("http://127.0.0.1:1/"));
        var worker = new SpindleWorker(options, new ActivityRegistry());
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await worker.RunAsync(stop.Token).WaitAsync(TimeSpan.FromSeconds(5));
        worker.Dispose();
    }

    [Fact]
    public async Task RunAsync_CalledTwice_Throws()
    {
        using var worker = new SpindleWorker(new SpindleWorkerOptions { ApiUrl = new Uri("http://127.0.0.1:1/") }, new ActivityRegistry());
        using var stop = new CancellationTokenSource();
        await stop.CancelAsync();
        Task first = worker.RunAsync(stop.Token);
        await Assert.ThrowsAsync<InvalidOperationException>(() => worker.RunAsync(stop.Token));
        await first;
    }

    [Fact]
    public void ResolveExecutionTimeout_TimeoutSecondsOrSettingsOrDefault_PicksInThatOrder()
    {
        TimeSpan fallback = TimeSpan.FromSeconds(300);
        Assert.Equal(TimeSpan.FromSeconds(120), SpindleWorker.ResolveExecutionTimeout(new Protocol.ClaimedActivity { TimeoutSeconds = 120 }, fallback));
        Assert.Equal(TimeSpan.FromSeconds(45), SpindleWorker.ResolveExecutionTimeout(new Protocol.ClaimedActivity { Settings = new JsonObject { ["timeout_seconds"] = 45 } }, fallback));
        Assert.Equal(fallback, SpindleWorker.ResolveExecutionTimeout(new Protocol.ClaimedActivity { LeaseSeconds = 60 }, fallback));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 1)]
    [InlineData(40, 20)]
    [InlineData(60, 30)]
    [InlineData(120, 30)]
    [InlineData(3600, 30)]
    public void HeartbeatSecondsForLease_Lease_MatchesServerFormula(int lease, int expected) =>
        Assert.Equal(expected, SpindleWorker.HeartbeatSecondsForLease(lease));

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < Eventually, "condition not met in time");
            await Task.Delay(10);
        }
    }
}
