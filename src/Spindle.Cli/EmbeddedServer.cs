using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Spindle.Server;

namespace Spindle.Cli;

/// <summary>A throw-away in-process server on a free loopback port, for <c>spindle run --embedded</c>.</summary>
internal sealed class EmbeddedServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string? _temporaryDataDir;

    private EmbeddedServer(WebApplication app, string url, string dataDir, string? temporaryDataDir)
    {
        _app = app;
        Url = url;
        DataDir = dataDir;
        _temporaryDataDir = temporaryDataDir;
    }

    public string Url { get; }

    public string DataDir { get; }

    /// <param name="dataDir">Where to keep the database; null uses a new directory under the OS temp dir, deleted afterwards.</param>
    public static async Task<EmbeddedServer> StartAsync(string? dataDir, CancellationToken cancellationToken)
    {
        var temporary = dataDir is null ? Directory.CreateTempSubdirectory("spindle-run-").FullName : null;
        var options = new ServerOptions
        {
            Bind = "127.0.0.1",
            Port = 0,
            DataDir = Path.GetFullPath(dataDir ?? temporary!),
            InsecureDev = true,
        };
        // The run's own progress lines are the output; server logs would interleave with them.
        var app = SpindleServer.Build(options, logging => logging.ClearProviders());
        try
        {
            var url = await SpindleServer.StartAsync(app, cancellationToken);
            return new EmbeddedServer(app, url, options.DataDir, temporary);
        }
        catch
        {
            await app.DisposeAsync();
            DeleteQuietly(temporary);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync(CancellationToken.None);
        }
        finally
        {
            await _app.DisposeAsync();
            DeleteQuietly(_temporaryDataDir);
        }
    }

    private static void DeleteQuietly(string? directory)
    {
        if (directory is null)
        {
            return;
        }
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file still held open (SQLite pools on Windows) only leaves litter in the temp dir.
        }
    }
}
