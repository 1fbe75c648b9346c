using System.Text.Json.Nodes;

namespace Spindle.Cli.Tests;

/// <summary>status, list, events, cancel and retry against workflows started with <c>spindle run</c>.</summary>
[Collection(ServerCollection.Name)]
public sealed class WorkflowCommandsTests(CliServerFixture server)
{
    [Fact]
    public async Task Status_CompletedWorkflow_ShowsStatusAndActivityTable()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_status"))), "--input", """{"name": "Ada"}""");

        var result = await server.RunAsync("status", run.WorkflowId);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains($"workflow    {run.WorkflowId}", result.Out, StringComparison.Ordinal);
        Assert.Contains("status      completed", result.Out, StringComparison.Ordinal);
        Assert.Contains("ACTIVITY  STATUS     ATTEMPT  ITER", result.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^summary\s+completed\s+1\s+0\s", result.Out);
    }

    [Fact]
    public async Task Status_FailedWorkflow_ShowsActivityErrors()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.FailingFlow(Cli.UniqueName("cli_statusfail"))));

        var result = await server.RunAsync("status", run.WorkflowId);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("status      failed", result.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^first\s+failed\s+1\s+0\s+.*TEMPLATE_ERROR: ", result.Out);
        Assert.Matches(@"(?m)^second\s+skipped", result.Out);
    }

    [Fact]
    public async Task Status_WithJson_PrintsTheServerResponse()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_statusjson"))), "--input", """{"name": "Ada"}""");

        var result = await server.RunAsync("status", run.WorkflowId, "--json");

        var workflow = JsonNode.Parse(result.Out)!;
        Assert.Equal(run.WorkflowId, workflow["id"]!.GetValue<string>());
        Assert.Equal(3, workflow["activities"]!.AsArray().Count);
    }

    [Fact]
    public async Task Status_UnknownWorkflow_PrintsServerMessageAndExitsOne()
    {
        var result = await server.RunAsync("status", "01970000-0000-7000-8000-000000000000");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: Workflow 01970000-0000-7000-8000-000000000000 not found", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_ByDefinition_ShowsTheRunsOfThatDefinition()
    {
        var name = Cli.UniqueName("cli_list");
        var file = Cli.WriteFile(Cli.EchoChain(name));
        var first = await server.RunAsync("run", file, "--input", """{"name": "A"}""");
        var second = await server.RunAsync("run", file, "--input", """{"name": "B"}""");

        var result = await server.RunAsync("list", "--definition", name, "--status", "completed");
        var limited = await server.RunAsync("list", "--definition", name, "--limit", "1");

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("ID", result.Out, StringComparison.Ordinal);
        Assert.Contains(first.WorkflowId, result.Out, StringComparison.Ordinal);
        Assert.Contains(second.WorkflowId, result.Out, StringComparison.Ordinal);
        Assert.True(result.Out.IndexOf(second.WorkflowId, StringComparison.Ordinal) < result.Out.IndexOf(first.WorkflowId, StringComparison.Ordinal), "newest first");
        Assert.Contains(second.WorkflowId, limited.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(first.WorkflowId, limited.Out, StringComparison.Ordinal);
        Assert.Contains("(1 of 2; use --limit to see more)", limited.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_NoMatch_SaysSo()
    {
        var result = await server.RunAsync("list", "--definition", Cli.UniqueName("cli_nothing"));

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("no workflows", result.Out.Trim());
    }

    [Fact]
    public async Task Events_CompletedWorkflow_PrintsHistoryInOrder()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_events"))), "--input", """{"name": "Ada"}""");

        var result = await server.RunAsync("events", run.WorkflowId);

        Assert.Equal(0, result.ExitCode);
        var lines = result.Out.Trim().Split('\n');
        Assert.StartsWith("TIME (UTC)", lines[0], StringComparison.Ordinal);
        Assert.Contains("WorkflowCreated", lines[1], StringComparison.Ordinal);
        Assert.Contains("WorkflowCompleted", lines[^1], StringComparison.Ordinal);
        var greetScheduled = Array.FindIndex(lines, l => l.Contains("ActivityScheduled", StringComparison.Ordinal) && l.Contains("greet", StringComparison.Ordinal));
        var greetCompleted = Array.FindIndex(lines, l => l.Contains("ActivityCompleted", StringComparison.Ordinal) && l.Contains("greet", StringComparison.Ordinal));
        var summaryCompleted = Array.FindIndex(lines, l => l.Contains("ActivityCompleted", StringComparison.Ordinal) && l.Contains("summary", StringComparison.Ordinal));
        Assert.True(greetScheduled > 0 && greetScheduled < greetCompleted && greetCompleted < summaryCompleted, result.Out);
        Assert.Contains("std/echo, attempt 1", result.Out, StringComparison.Ordinal);
        Assert.Contains("outputs: echo", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_WithJson_ReturnsEveryEvent()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.FailingFlow(Cli.UniqueName("cli_eventsjson"))));

        var result = await server.RunAsync("events", run.WorkflowId, "--json");

        var events = JsonNode.Parse(result.Out)!["events"]!.AsArray();
        Assert.Equal("WorkflowCreated", events[0]!["event_type"]!.GetValue<string>());
        Assert.Equal("WorkflowFailed", events[^1]!["event_type"]!.GetValue<string>());
    }

    [Fact]
    public async Task CancelThenRetry_StuckWorkflow_CancelsAndRestartsIt()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.StuckFlow(Cli.UniqueName("cli_cancel"))), "--timeout", "1");
        var id = run.WorkflowId;

        var cancel = await server.RunAsync("cancel", id, "--reason", "changed my mind");
        var cancelledStatus = await server.RunAsync("status", id);
        var retry = await server.RunAsync("retry", id);
        var runningStatus = await server.RunAsync("status", id);
        await server.RunAsync("cancel", id);

        Assert.Equal(0, cancel.ExitCode);
        Assert.Equal($"cancelled workflow {id}", cancel.Out.Trim());
        Assert.Contains("status      cancelled", cancelledStatus.Out, StringComparison.Ordinal);
        Assert.Contains("changed my mind", cancelledStatus.Out, StringComparison.Ordinal);
        Assert.Equal(0, retry.ExitCode);
        Assert.Equal($"retrying workflow {id}: wait_here", retry.Out.Trim());
        Assert.Contains("status      running", runningStatus.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retry_RunWhoseConcurrencyKeyIsFull_SaysItIsQueued()
    {
        var name = Cli.UniqueName("cli_retry_queued");
        var file = Cli.WriteFile(Cli.StuckFlow(name) + "\nconcurrency: {key: one, limit: 1}\n");
        var first = await server.RunAsync("run", file, "--timeout", "1");
        await server.RunAsync("cancel", first.WorkflowId);
        var holder = await server.RunAsync("run", file, "--timeout", "1"); // takes the only slot

        var retry = await server.RunAsync("retry", first.WorkflowId);
        var queuedStatus = await server.RunAsync("status", first.WorkflowId);
        await server.RunAsync("cancel", holder.WorkflowId);
        await server.RunAsync("cancel", first.WorkflowId);

        Assert.Equal(0, retry.ExitCode);
        Assert.Equal($"workflow {first.WorkflowId} is queued: it retries when its concurrency key has a free slot", retry.Out.Trim());
        Assert.Contains("status      created", queuedStatus.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancelAndRetry_CompletedWorkflow_AreRefusedWithTheServerMessage()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_refuse"))), "--input", """{"name": "Ada"}""");

        var cancel = await server.RunAsync("cancel", run.WorkflowId);
        var retry = await server.RunAsync("retry", run.WorkflowId);

        Assert.Equal(1, cancel.ExitCode);
        Assert.Contains("completed", cancel.Err, StringComparison.Ordinal);
        Assert.StartsWith("error: ", cancel.Err, StringComparison.Ordinal);
        Assert.Equal(1, retry.ExitCode);
        Assert.StartsWith("error: ", retry.Err, StringComparison.Ordinal);
    }
}
