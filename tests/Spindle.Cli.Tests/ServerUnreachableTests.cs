namespace Spindle.Cli.Tests;

public sealed class ServerUnreachableTests
{
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    private const string DeadUrl = "http://127.0.0.1:1";

    [Theory]
    [InlineData("list")]
    [InlineData("status", "01970000-0000-7000-8000-000000000000")]
    [InlineData("events", "01970000-0000-7000-8000-000000000000")]
    [InlineData("cancel", "01970000-0000-7000-8000-000000000000")]
    public async Task ClientCommand_NoServer_SaysItCannotReachSpindle(params string[] args)
    {
        var result = await Cli.RunAsync([.. args, "--api-url", DeadUrl]);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"error: cannot reach Spindle at {DeadUrl} — start it with `./spindle serve`", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_NoServer_SuggestsServeOrEmbedded()
    {
        var file = Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_unreachable")));

        var result = await Cli.RunAsync("run", file, "--api-url", DeadUrl);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"cannot reach Spindle at {DeadUrl} — start it with `./spindle serve` or add --embedded", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientCommand_ApiUrlNotHttp_IsAUsageError()
    {
        var result = await Cli.RunAsync("list", "--api-url", "ftp://example");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("is not an http(s) URL", result.Err, StringComparison.Ordinal);
    }
}
