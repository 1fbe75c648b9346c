using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Spindle.Server;

namespace Spindle.Cli.Tests;

/// <summary>The CLI against a server that requires tokens: no token setup on the same machine, and client management.</summary>
public sealed class ClientsAndAuthTests : IAsyncLifetime
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("spindle-cli-secure-").FullName;
    private WebApplication? _app;
    private string _url = "";

    public async Task InitializeAsync()
    {
        _app = SpindleServer.Build(new ServerOptions { Port = 0, DataDir = _dataDir }, logging => logging.SetMinimumLevel(LogLevel.Warning));
        _url = await SpindleServer.StartAsync(_app, CancellationToken.None);
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
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Run_SecuredServerWithLocalAdminCredential_CompletesWithoutTokenSetup()
    {
        var file = Cli.WriteFile("""
            name: secured_chain
            activities:
              - {key: a, activity_name: echo, parameters: {x: 1}}
              - {key: b, activity_name: echo, depends_on: [a]}
            """);
        var result = await Cli.RunAsync("run", file, "--api-url", _url, "--data-dir", _dataDir);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("completed", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_WithoutCredential_FailsWithUnauthorizedMessage()
    {
        var empty = Directory.CreateTempSubdirectory("spindle-cli-nocred-").FullName;
        var result = await Cli.RunAsync("list", "--api-url", _url, "--data-dir", empty);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("bearer token", result.Err, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Clients_CreateListRevoke_ShowsSecretOnceAndRevokes()
    {
        var created = await Cli.RunAsync("clients", "create", "ingest", "--scopes", "worker", "--api-url", _url, "--data-dir", _dataDir);
        Assert.True(created.ExitCode == 0, created.ToString());
        var id = created.Out.Split('\n').First(l => l.StartsWith("client_id:", StringComparison.Ordinal)).Split(':', 2)[1].Trim();
        Assert.Contains("client_secret:", created.Out, StringComparison.Ordinal);

        var list = await Cli.RunAsync("clients", "list", "--api-url", _url, "--data-dir", _dataDir);
        Assert.Contains(id, list.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("client_secret", list.Out, StringComparison.Ordinal);

        var revoke = await Cli.RunAsync("clients", "revoke", id, "--api-url", _url, "--data-dir", _dataDir);
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        var after = await Cli.RunAsync("clients", "list", "--json", "--api-url", _url, "--data-dir", _dataDir);
        Assert.Contains("\"active\": false", after.Out, StringComparison.Ordinal);

        var bad = await Cli.RunAsync("clients", "create", "x", "--scopes", "root", "--api-url", _url, "--data-dir", _dataDir);
        Assert.Equal(2, bad.ExitCode);
    }

    [Fact]
    public async Task ClientsHelp_ExplainsSubcommands()
    {
        var help = await Cli.RunAsync("clients", "create", "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("--scopes", help.Out, StringComparison.Ordinal);
        var serve = await Cli.RunAsync("serve", "--help");
        Assert.Contains("--python-workers", serve.Out, StringComparison.Ordinal);
        Assert.Contains("--cors-origin", serve.Out, StringComparison.Ordinal);
    }
}
