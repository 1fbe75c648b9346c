using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Spindle.TestSupport;

namespace Spindle.Cluster.Tests;

/// <summary>
/// Two servers on one PostgreSQL database, hosted in the test process: work committed through one wakes waiters on
/// the other at once (LISTEN/NOTIFY), and time-driven work goes on when a server is gone.
/// </summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class CrossServerTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const string Single = """
        name: single
        activities:
          - {key: only, activity_name: echo}
        """;

    /// <summary>
    /// Waiters re-check every second even without a wake-up; a latency well under that proves the notification
    /// crossed servers. The best of three trials keeps a busy CI machine from making this flaky.
    /// </summary>
    private static readonly TimeSpan WokenWithin = TimeSpan.FromMilliseconds(500);

    /// <summary>Timer passes also wake pollers of due work; this slow they stay out of the wake-up measurements.</summary>
    private static readonly TimeSpan SlowTimers = TimeSpan.FromSeconds(30);

    private string _database = "";
    private InProcessServer _a = null!;
    private InProcessServer _b = null!;

    public async Task InitializeAsync()
    {
        _database = await postgres.CreateDatabaseAsync();
        _a = await InProcessServer.StartAsync(_database, timerInterval: SlowTimers);
        _b = await InProcessServer.StartAsync(_database, timerInterval: SlowTimers);
        await _b.Api.DeployAsync(Single);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public async Task Poll_ActivityReadyThroughOtherServer_WakesLongPollAtOnce()
    {
        var best = TimeSpan.MaxValue;
        for (var trial = 0; trial < 3; trial++)
        {
            var poll = _a.Api.PollAsync("wA", 1, waitSeconds: 10);
            await Task.Delay(300); // the poll has found nothing and waits
            var watch = Stopwatch.StartNew();
            var id = await _b.Api.SubmitAsync("single");
            var claimed = await poll;
            watch.Stop();
            Assert.Equal(id, Assert.Single(claimed)!["workflow_id"]!.GetValue<string>());
            best = watch.Elapsed < best ? watch.Elapsed : best;
        }
        Assert.True(best < WokenWithin, $"the poller on server A woke {best.TotalMilliseconds:0} ms after the submit on server B");
    }

    [Fact]
    public async Task GetWorkflowWait_FinishedThroughOtherServer_ReturnsAtOnce()
    {
        var best = TimeSpan.MaxValue;
        for (var trial = 0; trial < 3; trial++)
        {
            var id = await _b.Api.SubmitAsync("single");
            var activity = Assert.Single(await _b.Api.PollAsync("wB", 1, waitSeconds: 5))!;
            var wait = _a.Api.GetWorkflowAsync(id, waitSeconds: 10);
            await Task.Delay(300); // the client's wait on server A is under way
            var watch = Stopwatch.StartNew();
            var (status, body) = await _b.Api.PostAsync($"/api/v1/activities/{activity["activity_id"]}/complete",
                new JsonObject { ["worker_id"] = "wB", ["output"] = new JsonObject { ["ok"] = true } });
            Assert.True(status == 200, body.ToJsonString());
            var workflow = await wait;
            watch.Stop();
            Assert.Equal("completed", workflow["status"]!.GetValue<string>());
            best = watch.Elapsed < best ? watch.Elapsed : best;
        }
        Assert.True(best < WokenWithin, $"the waiting client on server A returned {best.TotalMilliseconds:0} ms after the completion on server B");
    }

    [Fact]
    public async Task Timers_ServerThatHandedOutTheLeaseIsGone_OtherServerExpiresItAndReoffers()
    {
        const string shortLease = """
            name: short_lease
            activities:
              - {key: slow, activity_name: echo, settings: {timeout_seconds: 1}}
            """;
        await _a.Api.DeployAsync(shortLease);
        var id = await _a.Api.SubmitAsync("short_lease");
        var first = Assert.Single(await _a.Api.PollAsync("lost-worker", 1, waitSeconds: 5))!;
        await _a.StopAsync();

        // Another server's timer loop finds the expired lease and offers the activity again (attempt 2).
        await using var c = await InProcessServer.StartAsync(_database);
        var again = Assert.Single(await c.Api.PollAsync("w2", 1, waitSeconds: 10))!;
        Assert.Equal(first["activity_id"]!.GetValue<string>(), again["activity_id"]!.GetValue<string>());
        Assert.Equal(2, again["attempt"]!.GetValue<int>());
        var (status, _) = await c.Api.PostAsync($"/api/v1/activities/{again["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w2", ["output"] = new JsonObject() });
        Assert.Equal(200, status);
        Assert.Equal("completed", (await c.Api.GetWorkflowAsync(id))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task StreamTicket_IssuedByOneServer_OpensAStreamOnTheOtherOnce()
    {
        var (status, issued) = await _a.Api.PostAsync("/api/v1/streams/tickets", new JsonObject());
        var path = $"/api/v1/events/stream?ticket={Uri.EscapeDataString(issued["ticket"]!.GetValue<string>())}";

        // Behind a load balancer the browser's stream may reach another server than its ticket request did.
        using var onB = await _b.Api.Http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        using var againOnA = await _a.Api.Http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(201, status);
        Assert.Equal(System.Net.HttpStatusCode.OK, onB.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, againOnA.StatusCode);
    }

    [Fact]
    public async Task SignInLink_MadeByOneServer_IsRedeemedOnTheOtherOnce()
    {
        // Through the service: on these --insecure-dev servers the route that makes links answers 400 (no sign-in needed).
        var links = _a.Services.GetRequiredService<Spindle.Server.Auth.SignInLinks>();
        var code = await links.CreateAsync(new Spindle.Server.Auth.TokenPrincipal("cl_admin", ["admin"], 0, long.MaxValue), CancellationToken.None);

        var (onB, token) = await _b.Api.PostAsync("/api/v1/ui/sign-in", new JsonObject { ["code"] = code });
        var (againOnA, _) = await _a.Api.PostAsync("/api/v1/ui/sign-in", new JsonObject { ["code"] = code });

        Assert.Equal(200, onB);
        Assert.Equal("admin", token["scope"]!.GetValue<string>());
        Assert.Equal(401, againOnA);
    }
}
