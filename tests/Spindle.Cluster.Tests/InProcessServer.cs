using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Spindle.Server;
using Spindle.Server.Wakeups;

namespace Spindle.Cluster.Tests;

/// <summary>A real server hosted in the test process on a loopback port, on a shared PostgreSQL database.</summary>
public sealed class InProcessServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _dataDir;
    private bool _stopped;

    private InProcessServer(WebApplication app, string dataDir, ApiClient api)
    {
        _app = app;
        _dataDir = dataDir;
        Api = api;
    }

    public ApiClient Api { get; }

    public IServiceProvider Services => _app.Services;

    /// <param name="timerInterval">How often the timer loop runs (default 200 ms). The loop also re-arms wake-ups
    /// for due activities, so tests of cross-server notifications make it slow to see the notifications alone.</param>
    public static async Task<InProcessServer> StartAsync(string databaseUrl, bool withStdWorker = false, TimeSpan? timerInterval = null)
    {
        var dataDir = Directory.CreateTempSubdirectory("spindle-cluster-").FullName;
        var options = new ServerOptions
        {
            Port = 0,
            DataDir = dataDir,
            DatabaseUrl = databaseUrl,
            InsecureDev = true,
            NoWorker = !withStdWorker,
            TimerInterval = timerInterval ?? TimeSpan.FromMilliseconds(200),
        };
        var app = SpindleServer.Build(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        var baseUrl = await SpindleServer.StartAsync(app, CancellationToken.None);
        // Work committed before the LISTEN is in place would not wake this server; tests start after it.
        await app.Services.GetRequiredService<PostgresWakeupListener>().Listening.WaitAsync(TimeSpan.FromSeconds(30));
        await app.Services.GetRequiredService<Spindle.Server.Streams.PostgresStreamRelay>().Listening.WaitAsync(TimeSpan.FromSeconds(30));
        await app.Services.GetRequiredService<Spindle.Server.Streams.PostgresStreamPresence>().Listening.WaitAsync(TimeSpan.FromSeconds(30));
        return new InProcessServer(app, dataDir, new ApiClient(baseUrl));
    }

    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Api.Dispose();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
