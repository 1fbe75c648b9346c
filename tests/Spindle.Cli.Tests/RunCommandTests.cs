using System.Text.Json.Nodes;

namespace Spindle.Cli.Tests;

[Collection(ServerCollection.Name)]
public sealed class RunCommandTests(CliServerFixture server)
{
    [Fact]
    public async Task Run_EchoChain_FollowsProgressAndPrintsTerminalOutput()
    {
        var name = Cli.UniqueName("cli_run");

        var result = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(name)), "--input", """{"name": "Ada"}""");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"deployed {name} version", result.Out, StringComparison.Ordinal);
        Assert.Contains("  ▶ greet scheduled", result.Out, StringComparison.Ordinal);
        Assert.Matches(@"  ✓ greet completed \(attempt 1, \d+", result.Out);
        Assert.Contains("  ✓ summary completed", result.Out, StringComparison.Ordinal);
        Assert.Contains("completed in", result.Out, StringComparison.Ordinal);
        Assert.Contains("output of summary:", result.Out, StringComparison.Ordinal);
        Assert.Contains("\"loud\": \"HELLO, ADA!\"", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("output of greet", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_FailingWorkflow_PrintsErrorAndExitsOne()
    {
        var result = await server.RunAsync("run", Cli.WriteFile(Cli.FailingFlow(Cli.UniqueName("cli_fail"))));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("  ✗ first failed: TEMPLATE_ERROR", result.Out, StringComparison.Ordinal);
        Assert.Contains("  ↷ second skipped:", result.Out, StringComparison.Ordinal);
        Assert.Matches(@"✗ workflow \S+ failed.*: .*INPUT\.missing\.deeper", result.Out);
    }

    [Fact]
    public async Task Run_InputFile_IsSubmittedAsTheInput()
    {
        var input = Cli.WriteFile("""{"name": "Grace"}""", ".json");

        var result = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_input"))), "--input-file", input);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("HELLO, GRACE!", result.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--input", "not json", "not valid JSON")]
    [InlineData("--input", "[1, 2]", "must be a JSON object")]
    public async Task Run_BadInput_ExitsTwoBeforeContactingTheServer(string option, string value, string message)
    {
        var result = await Cli.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_bad"))), option, value, "--api-url", "http://127.0.0.1:1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_MissingFile_ExitsTwoWithoutStartingAnything()
    {
        var result = await Cli.RunAsync("run", "/nonexistent/flow.yaml", "--embedded");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("cannot read /nonexistent/flow.yaml", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("embedded Spindle", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_InputAndInputFile_IsAUsageError()
    {
        var input = Cli.WriteFile("{}", ".json");

        var result = await Cli.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_both"))), "--input", "{}", "--input-file", input);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("either --input or --input-file", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_TimeoutBeforeTheWorkflowEnds_ExitsOneAndSaysItIsStillRunning()
    {
        var result = await server.RunAsync("run", Cli.WriteFile(Cli.StuckFlow(Cli.UniqueName("cli_slow"))), "--timeout", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("timed out after", result.Out, StringComparison.Ordinal);
        Assert.Contains("is still running", result.Out, StringComparison.Ordinal);
        await server.RunAsync("cancel", result.WorkflowId);
    }

    [Fact]
    public async Task Run_WithJson_PrintsOneDocumentWithWorkflowAndOutput()
    {
        var result = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_runjson"))), "--input", """{"name": "Ada"}""", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var document = JsonNode.Parse(result.Out)!;
        Assert.Equal("completed", document["workflow"]!["status"]!.GetValue<string>());
        Assert.Equal("summary", document["output"]!["terminal_outputs"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task Run_WithPriority_SubmitsTheRunAtThatPriority()
    {
        var result = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_prio"))), "--input", """{"name": "Ada"}""",
            "--priority", "7", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(7, JsonNode.Parse(result.Out)!["workflow"]!["priority"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("1001")]
    [InlineData("-1")]
    public async Task Run_PriorityOutOfRange_ExitsTwoBeforeContactingTheServer(string value)
    {
        var result = await Cli.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_badprio"))), "--priority", value,
            "--api-url", "http://127.0.0.1:1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--priority must be a whole number from 0 to 1000", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_Help_ExplainsPriority()
    {
        var result = await Cli.RunAsync("run", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--priority <N>", result.Out, StringComparison.Ordinal);
        Assert.Contains("higher is claimed first", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_Embedded_RunsWithoutAnyServerAndCleansUp()
    {
        var result = await Cli.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_embedded"))), "--embedded",
            "--input", """{"name": "Linus"}""", "--api-url", "http://127.0.0.1:1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("embedded Spindle at http://127.0.0.1:", result.Out, StringComparison.Ordinal);
        Assert.Contains("\"loud\": \"HELLO, LINUS!\"", result.Out, StringComparison.Ordinal);
        var dataDir = System.Text.RegularExpressions.Regex.Match(result.Out, @"data in (\S+),").Groups[1].Value;
        Assert.False(Directory.Exists(dataDir), $"temporary data dir {dataDir} was left behind");
    }

    [Fact]
    public async Task Run_EmbeddedFailingWorkflow_ExitsOne()
    {
        var dataDir = Directory.CreateTempSubdirectory("spindle-cli-embedded-").FullName;

        var result = await Cli.RunAsync("run", Cli.WriteFile(Cli.FailingFlow(Cli.UniqueName("cli_embfail"))), "--embedded", "--data-dir", dataDir);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("failed", result.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dataDir, "spindle.db")), "--data-dir should keep the database");
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dataDir, recursive: true);
    }
}
