using Spindle.TestSupport;

namespace Spindle.Cli.Tests;

/// <summary>The shared server fixture with its in-process std worker, as <c>spindle serve</c> runs it.</summary>
public sealed class CliServerFixture : ServerFixture
{
    protected override bool WithStdWorker => true;

    /// <summary>Runs the CLI with <c>--api-url</c> pointing at this server.</summary>
    public Task<CliResult> RunAsync(params string[] args) => Cli.RunAsync([.. args, "--api-url", BaseUrl]);
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<CliServerFixture>
{
    public const string Name = "cli-server";
}
