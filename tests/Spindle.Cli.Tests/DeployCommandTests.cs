namespace Spindle.Cli.Tests;

[Collection(ServerCollection.Name)]
public sealed class DeployCommandTests(CliServerFixture server)
{
    [Fact]
    public async Task Deploy_ValidFileTwice_PrintsDeployedThenUnchanged()
    {
        var name = Cli.UniqueName("cli_deploy");
        var file = Cli.WriteFile(Cli.EchoChain(name));

        var first = await server.RunAsync("deploy", file);
        var second = await server.RunAsync("deploy", file);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Matches($@"^deployed {name} version \d{{8}}\.\d{{6}}\.\d{{6}}", first.Out);
        Assert.Equal(0, second.ExitCode);
        Assert.StartsWith($"unchanged {name} version", second.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deploy_InvalidFile_PrintsFieldErrorsAndExitsOne()
    {
        var file = Cli.WriteFile("""
            name: not a valid name
            activities:
              - key: a
                activity_name: echo
                depends_on: [missing]
            """);

        var result = await server.RunAsync("deploy", file);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Validation failed", result.Err, StringComparison.Ordinal);
        Assert.Contains("  name: ", result.Err, StringComparison.Ordinal);
        Assert.Contains("  activity.a.depends_on: Referenced activity not found: missing", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deploy_OneBadFileAmongGoodOnes_DeploysTheRestAndExitsOne()
    {
        var good = Cli.WriteFile(Cli.EchoChain(Cli.UniqueName("cli_mixed")));
        var missing = Path.Combine(Path.GetTempPath(), "spindle-cli-tests", "does-not-exist.yaml");

        var result = await server.RunAsync("deploy", missing, good);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("cannot read", result.Err, StringComparison.Ordinal);
        Assert.Contains("deployed cli_mixed_", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deploy_WithJson_PrintsTheServerAnswer()
    {
        var name = Cli.UniqueName("cli_json");

        var result = await server.RunAsync("deploy", Cli.WriteFile(Cli.EchoChain(name)), "--json");

        Assert.Equal(0, result.ExitCode);
        var answer = System.Text.Json.Nodes.JsonNode.Parse(result.Out)!;
        Assert.Equal(name, answer["name"]!.GetValue<string>());
    }
}
