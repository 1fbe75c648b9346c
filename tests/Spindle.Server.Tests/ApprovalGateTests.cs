using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Spindle.Storage;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>A server on a fake clock, so a test can let hours pass; timers are run by the test, not by waiting.</summary>
public class FakeClockServerFixture : ServerFixture
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    protected override void Configure(ServerOptions options) => options.Clock = Clock;

    public Task RunTimersAsync() => App.Services.GetRequiredService<IWorkflowStore>().RunTimersAsync(CancellationToken.None);

    public static string ApprovalGate() =>
        File.ReadAllText(Path.Combine(ExamplesTests.RepositoryRoot(), "tests", "compat", "definitions", "approval-gate.yaml"));

    /// <summary>Submits the Kruxia-format approval gate and completes its first step, leaving it waiting for the approval.</summary>
    public async Task<string> StartApprovalGateAsync()
    {
        await DeployAsync(ApprovalGate());
        var id = await SubmitAsync("approval_gate", new JsonObject { ["document"] = "q3-report" });
        var prepare = Assert.Single(await PollAsync("w1"));
        Assert.Equal("prepare", prepare!["activity_key"]!.GetValue<string>());
        var (status, _) = await PostAsync($"/api/v1/activities/{prepare["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject { ["echo"] = prepare["parameters"]!.DeepClone() } });
        Assert.Equal(200, status);
        return id;
    }

    public async Task<JsonObject> WorkflowAsync(string id)
    {
        var (status, body) = await GetAsync($"/api/v1/workflows/{id}");
        Assert.Equal(200, status);
        return body;
    }

    public static string? ActivityStatus(JsonObject workflow, string key) =>
        workflow["activities"]!.AsArray().Single(a => a!["activity_key"]!.GetValue<string>() == key)!["status"]!.GetValue<string>();
}

/// <summary>The same server with the operator's default deadline, <c>--default-workflow-timeout 30m</c>.</summary>
public sealed class DefaultDeadlineServerFixture : FakeClockServerFixture
{
    protected override void Configure(ServerOptions options)
    {
        base.Configure(options);
        options.DefaultWorkflowTimeoutSeconds = 30 * 60;
    }
}

/// <summary>
/// A Kruxia Flow approval gate over the REST API: no implicit deadline ends it while a person takes hours to answer.
/// </summary>
public sealed class ApprovalGateTests(FakeClockServerFixture server) : IClassFixture<FakeClockServerFixture>
{
    [Fact]
    public async Task ApprovalGate_SignalledSixHoursLater_RunsToCompletion()
    {
        var id = await server.StartApprovalGateAsync();
        Assert.Equal("waiting", FakeClockServerFixture.ActivityStatus(await server.WorkflowAsync(id), "approve"));

        server.Clock.Advance(TimeSpan.FromHours(6)); // the old implicit limit was 300 s
        await server.RunTimersAsync();
        var later = await server.WorkflowAsync(id);
        Assert.Equal("running", later["status"]!.GetValue<string>());
        Assert.Equal("waiting", FakeClockServerFixture.ActivityStatus(later, "approve"));

        // Outputs are not ready while the gate waits: 400 in the reference's words.
        var (outputStatus, output) = await server.GetAsync($"/api/v1/workflows/{id}/output");
        Assert.Equal(400, outputStatus);
        Assert.Equal("Workflow is not completed. Output is only available for completed workflows.", output["error"]!["message"]!.GetValue<string>());
        var (activityStatus, activityOutput) = await server.GetAsync($"/api/v1/workflows/{id}/activities/approve/output");
        Assert.Equal(400, activityStatus);
        Assert.Equal("Activity 'approve' is not completed. Output is only available for completed activities.",
            activityOutput["error"]!["message"]!.GetValue<string>());

        var (signalStatus, signal) = await server.PostAsync($"/api/v1/workflows/{id}/signal",
            new JsonObject { ["activity_key"] = "approve", ["event_name"] = "approval", ["data"] = new JsonObject { ["approved"] = true } });
        Assert.Equal(200, signalStatus);
        Assert.True(signal["signaled"]!.GetValue<bool>());
        foreach (var key in new[] { "approve", "publish" })
        {
            var claimed = Assert.Single(await server.PollAsync("w1"));
            Assert.Equal(key, claimed!["activity_key"]!.GetValue<string>());
            var (status, _) = await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/complete",
                new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject { ["echo"] = claimed["parameters"]!.DeepClone() } });
            Assert.Equal(200, status);
        }
        Assert.Equal("completed", (await server.WorkflowAsync(id))["status"]!.GetValue<string>());
    }
}

/// <summary>An operator's <c>--default-workflow-timeout</c> applies to workflows without <c>settings.timeout</c>.</summary>
public sealed class DefaultWorkflowTimeoutTests(DefaultDeadlineServerFixture server) : IClassFixture<DefaultDeadlineServerFixture>
{
    [Fact]
    public async Task DefaultWorkflowTimeout_Passed_FailsTheWorkflowNamingTheLimitAndItsSource()
    {
        var id = await server.StartApprovalGateAsync();
        server.Clock.Advance(TimeSpan.FromMinutes(31));
        await server.RunTimersAsync();
        var failed = await server.WorkflowAsync(id);
        Assert.Equal("failed", failed["status"]!.GetValue<string>());
        // A std worker polled moments ago, so the message does not blame a missing worker.
        Assert.Equal("workflow exceeded its timeout of 30m (server option --default-workflow-timeout)", failed["error_message"]!.GetValue<string>());
    }
}
