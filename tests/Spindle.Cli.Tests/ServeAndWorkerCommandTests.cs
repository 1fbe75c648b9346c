using System.Text.RegularExpressions;

namespace Spindle.Cli.Tests;

[Collection(ServerCollection.Name)]
public sealed class ServeAndWorkerCommandTests(CliServerFixture server)
{
    [Fact]
    public async Task Serve_InsecureDevOnFreePort_PrintsStartupLineServesAndStopsOnCancel()
    {
        var dataDir = Directory.CreateTempSubdirectory("spindle-cli-serve-").FullName;
        var stdout = new ConcurrentWriter();
        var stderr = new ConcurrentWriter();
        using var stop = new CancellationTokenSource();

        // --dumpable: serve runs inside the test host here, which must stay dumpable for crash and hang dumps.
        var serving = CliApp.RunAsync(["serve", "--port", "0", "--data-dir", dataDir, "--insecure-dev", "--no-worker", "--dumpable"], stdout, stderr, stop.Token);
        await stdout.WaitForAsync("Ctrl+C to stop", TimeSpan.FromSeconds(30));
        var url = Regex.Match(stdout.Text, @"listening on (http://127\.0\.0\.1:\d+)").Groups[1].Value;
        var list = await Cli.RunAsync("list", "--api-url", url);
        await stop.CancelAsync();
        var exitCode = await serving.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, exitCode);
        Assert.Contains($"data in {dataDir}", stdout.Text, StringComparison.Ordinal);
        Assert.Contains("std worker off", stdout.Text, StringComparison.Ordinal);
        Assert.Contains("WARNING: --insecure-dev", stderr.Text, StringComparison.Ordinal);
        Assert.Equal(0, list.ExitCode);
        Assert.Equal("no workflows", list.Out.Trim());
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dataDir, recursive: true);
    }

    [Fact]
    public async Task Serve_InvalidBind_PrintsProblemAndExitsTwo()
    {
        var result = await Cli.RunAsync("serve", "--bind", "not-an-address", "--insecure-dev", "--port", "0");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--bind 'not-an-address'", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_DefaultWorkflowTimeoutNotADuration_PrintsProblemAndExitsTwo()
    {
        var result = await Cli.RunAsync("serve", "--default-workflow-timeout", "soon", "--insecure-dev", "--port", "0");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--default-workflow-timeout 'soon' is not a duration", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_Help_DocumentsTheDefaultWorkflowTimeout()
    {
        var result = await Cli.RunAsync("serve", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--default-workflow-timeout", result.Out, StringComparison.Ordinal);
        Assert.Contains("SPINDLE_DEFAULT_WORKFLOW_TIMEOUT", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_WorkerConcurrencyOutOfRange_PrintsProblemAndExitsTwo()
    {
        var result = await Cli.RunAsync("serve", "--worker-concurrency", "0", "--insecure-dev", "--port", "0");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--worker-concurrency 0 is out of range (1-1000)", result.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--template-max-steps", "--template-max-steps 0 must be at least 1")]
    [InlineData("--template-max-size", "--template-max-size 0 must be at least 1")]
    public async Task Serve_TemplateLimitBelowOne_PrintsProblemAndExitsTwo(string option, string problem)
    {
        var result = await Cli.RunAsync("serve", option, "0", "--insecure-dev", "--port", "0");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(problem, result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Worker_OwnRoutingKey_RunsActivitiesUntilCancelled()
    {
        // The server's in-process worker only polls "std", so this routing key is served by the CLI worker alone.
        var routingKey = "cli-" + Guid.NewGuid().ToString("N")[..8];
        var stdout = new ConcurrentWriter();
        var stderr = new ConcurrentWriter();
        using var stop = new CancellationTokenSource();

        var working = CliApp.RunAsync(["worker", "--api-url", server.BaseUrl, "--worker", routingKey, "--worker-id", "cli-test-worker", "--concurrency", "4"],
            stdout, stderr, stop.Token);
        await stdout.WaitForAsync("Ctrl+C to drain", TimeSpan.FromSeconds(30));
        var run = await server.RunAsync("run", Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_worker"), routingKey)), "--input", """{"name": "Ada"}""", "--timeout", "30");
        await stop.CancelAsync();
        var exitCode = await working.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("\"loud\": \"HELLO, ADA!\"", run.Out, StringComparison.Ordinal);
        Assert.Equal(0, exitCode);
        Assert.Contains($"spindle worker cli-test-worker: serving '{routingKey}'", stdout.Text, StringComparison.Ordinal);
        Assert.Contains("up to 4 at a time", stdout.Text, StringComparison.Ordinal);
        Assert.Contains("spindle worker cli-test-worker: stopped.", stdout.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Worker_InvalidConcurrency_IsAUsageError()
    {
        var result = await Cli.RunAsync("worker", "--api-url", server.BaseUrl, "--concurrency", "0");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("MaxConcurrency", result.Err, StringComparison.Ordinal);
    }
}
