namespace Spindle.Cli.Tests;

public sealed class HelpAndVersionTests
{
    [Theory]
    [InlineData("serve", "--port", "--bind", "--data-dir", "--no-worker", "--insecure-dev", "--template-max-steps", "--template-max-size")]
    [InlineData("worker", "--api-url", "--worker", "--worker-id", "--concurrency")]
    [InlineData("deploy", "FILE", "--api-url", "--json")]
    [InlineData("run", "FILE", "--input", "--input-file", "--timeout", "--embedded", "--data-dir", "--api-url", "--json")]
    [InlineData("status", "ID", "--api-url", "--json")]
    [InlineData("list", "--status", "--definition", "--limit", "--api-url", "--json")]
    [InlineData("cancel", "ID", "--reason", "--api-url")]
    [InlineData("retry", "ID", "--api-url")]
    [InlineData("events", "ID", "--api-url", "--json")]
    [InlineData("ui", "--no-browser", "--api-url", "--data-dir")]
    public async Task Help_EachCommand_DescribesItsOptionsWithAnExample(string command, params string[] expected)
    {
        var result = await Cli.RunAsync(command, "--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var text in expected)
        {
            Assert.Contains(text, result.Out, StringComparison.Ordinal);
        }
        Assert.Contains("Examples:", result.Out, StringComparison.Ordinal);
        Assert.Contains($"spindle {command}", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_Root_ListsEveryCommand()
    {
        var result = await Cli.RunAsync("--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var command in new[] { "serve", "worker", "deploy", "run", "status", "list", "events", "cancel", "retry" })
        {
            Assert.Contains(command, result.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Version_WithoutServer_PrintsVersionAndExitsZero()
    {
        var result = await Cli.RunAsync("--version");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^spindle \d+\.\d+\.\d+", result.Out);
        Assert.Equal("", result.Err);
    }

    [Fact]
    public async Task Parse_UnknownCommand_ExitsNonZeroWithMessage()
    {
        var result = await Cli.RunAsync("frobnicate");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("frobnicate", result.Err, StringComparison.Ordinal);
    }
}
