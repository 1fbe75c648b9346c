using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Spindle.Server;

namespace Spindle.Cli.Tests;

/// <summary>A real server with its in-process std worker on a loopback port and a fresh SQLite file.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public string DataDir { get; } = Directory.CreateTempSubdirectory("spindle-cli-").FullName;

    public string Url { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var options = new ServerOptions
        {
            Port = 0,
            DataDir = DataDir,
            InsecureDev = true,
            TimerInterval = TimeSpan.FromMilliseconds(200),
        };
        _app = SpindleServer.Build(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        Url = await SpindleServer.StartAsync(_app, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Runs the CLI with <c>--api-url</c> pointing at this server.</summary>
    public Task<CliResult> RunAsync(params string[] args) => Cli.RunAsync([.. args, "--api-url", Url]);
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "cli-server";
}
