using System.Text.Json.Nodes;

namespace Spindle.Cli.Tests;

/// <summary><c>spindle schedules …</c> and <c>spindle signal</c> against a real server.</summary>
[Collection(ServerCollection.Name)]
public sealed class SchedulesCommandTests(CliServerFixture server)
{
    [Fact]
    public async Task Schedules_CreateListShowPauseTriggerBackfillDelete_WorkByName()
    {
        var definition = Cli.UniqueName("cli_sched");
        await server.DeployAsync($"name: {definition}\nactivities:\n  - {{key: a, activity_name: echo, worker: nobody}}\n");
        var name = Cli.UniqueName("hourly");

        var created = await server.RunAsync("schedules", "create", name, definition, "--every", "3600", "--input", """{"n": 1}""");
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Contains($"schedule {name}", created.Out, StringComparison.Ordinal);
        Assert.Contains("next occurrences (UTC / local):", created.Out, StringComparison.Ordinal);

        var list = await server.RunAsync("schedules", "list");
        Assert.Matches($@"(?m)^{name}\s+{definition}\s+every 3600 s\s+enabled", list.Out);

        var paused = await server.RunAsync("schedules", "pause", name, "--note", "maintenance");
        Assert.Contains("paused (maintenance)", paused.Out, StringComparison.Ordinal);

        var triggered = await server.RunAsync("schedules", "trigger", name);
        Assert.True(triggered.ExitCode == 0, triggered.ToString());
        Assert.StartsWith("submitted: workflow ", triggered.Out, StringComparison.Ordinal);

        var backfill = await server.RunAsync("schedules", "backfill", name, "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T03:00:00Z");
        Assert.Contains("3 of 3 occurrence(s) submitted", backfill.Out, StringComparison.Ordinal);

        var shown = await server.RunAsync("schedules", "show", name);
        Assert.Contains("recent runs:", shown.Out, StringComparison.Ordinal);
        Assert.Contains("submitted", shown.Out, StringComparison.Ordinal);

        var deleted = await server.RunAsync("schedules", "delete", name);
        Assert.Contains("deleted schedule", deleted.Out, StringComparison.Ordinal);
        var missing = await server.RunAsync("schedules", "show", name);
        Assert.Equal(2, missing.ExitCode); // a usage error
        Assert.Contains($"no schedule named '{name}'", missing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SchedulesShowAndList_WithJson_PrintWhatTheServerAnswered()
    {
        var definition = Cli.UniqueName("cli_sched_json");
        await server.DeployAsync($"name: {definition}\nactivities:\n  - {{key: a, activity_name: echo, worker: nobody}}\n");
        var name = Cli.UniqueName("daily_json");
        var created = await server.RunAsync("schedules", "create", name, definition, "--cron", "0 6 * * *", "--input", """{"city": "Zürich"}""", "--json");
        Assert.True(created.ExitCode == 0, created.ToString());
        var id = JsonNode.Parse(created.Out)!["id"]!.GetValue<string>();

        var shown = await server.RunAsync("schedules", "show", name, "--json");
        var (_, fromServer) = await server.GetAsync($"/api/v1/schedules/{id}");
        // Same fields, same order, same values (read through the Schedule record and written back).
        Assert.Equal(fromServer.ToJsonString(), JsonNode.Parse(shown.Out)!.ToJsonString());
        Assert.Contains("\"city\": \"Zürich\"", shown.Out, StringComparison.Ordinal); // readable, not \u00FC

        var list = await server.RunAsync("schedules", "list", "--json");
        var (_, listed) = await server.GetAsync("/api/v1/schedules");
        var printed = JsonNode.Parse(list.Out)!["schedules"]!.AsArray().Single(s => s!["id"]!.GetValue<string>() == id)!;
        var served = listed["schedules"]!.AsArray().Single(s => s!["id"]!.GetValue<string>() == id)!;
        Assert.Equal(served.ToJsonString(), printed.ToJsonString());
        Assert.False(printed.AsObject().ContainsKey("recent_runs"));
        await server.RunAsync("schedules", "delete", name);
    }

    [Fact]
    public async Task Signal_WaitingActivity_ResumesTheWorkflow()
    {
        var definition = Cli.UniqueName("cli_signal");
        await server.DeployAsync($$$"""
            name: {{{definition}}}
            activities:
              - key: decide
                activity_name: echo
                parameters: {approved: "{{SIGNAL.approved}}"}
                settings: {wait_for_signal: approval}
            """);
        var id = await server.SubmitAsync(definition);

        var signaled = await server.RunAsync("signal", id, "decide", "approval", "--data", """{"approved": true}""");
        Assert.True(signaled.ExitCode == 0, signaled.ToString());
        Assert.Equal("signaled", signaled.Out.Trim());
        var (_, workflow) = await server.GetAsync($"/api/v1/workflows/{id}?wait_seconds=10");
        Assert.Equal("completed", workflow["status"]!.GetValue<string>());

        var again = await server.RunAsync("signal", id, "decide", "approval");
        Assert.True(again.ExitCode == 1, again.ToString());
        Assert.StartsWith("not signaled:", again.Out, StringComparison.Ordinal);
        Assert.Equal(2, (await server.RunAsync("signal", id, "decide", "approval", "--data", "[1]")).ExitCode); // a usage error
    }
}
