using Spindle.Worker;
using Spindle.Worker.Std;

namespace Spindle.Server.Hosting;

/// <summary>
/// Runs the built-in std worker inside the server process. It talks to the server over HTTP on loopback like any
/// other worker. It is started once the server listens (its URL is known only then, e.g. with port 0) and drained
/// while the server still accepts requests, so its last results are not lost.
/// </summary>
public sealed partial class StdWorkerHost : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly SpindleWorker _worker;
    private readonly IAsyncDisposable? _resources;
    private readonly ILogger<StdWorkerHost> _logger;
    private Task _running = Task.CompletedTask;

    public StdWorkerHost(Uri apiUrl, int concurrency, ILoggerFactory loggers, DelegatingHandler authentication)
    {
        var registry = new ActivityRegistry();
        _resources = StdActivities.Register(registry);
        var options = new SpindleWorkerOptions
        {
            ApiUrl = apiUrl,
            RoutingKey = "std",
            WorkerId = "std-inproc-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..6],
            MaxConcurrency = concurrency,
            PollBatchSize = Math.Min(concurrency, 32),
            PollWaitSeconds = 20,
            ShutdownTimeout = TimeSpan.FromSeconds(20),
        };
        authentication.InnerHandler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        var api = new SpindleApiClient(options, authentication, loggers.CreateLogger<SpindleApiClient>());
        _worker = new SpindleWorker(options, registry, loggers.CreateLogger<SpindleWorker>(), api);
        _logger = loggers.CreateLogger<StdWorkerHost>();
    }

    public void Start() => _running = Task.Run(() => _worker.RunAsync(_stopping.Token));

    /// <summary>Stops polling, lets running activities finish (reporting the rest as WORKER_SHUTDOWN), then returns.</summary>
    public async Task StopAsync()
    {
        await _stopping.CancelAsync();
        try
        {
            await _running;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogWorkerStopFailed(ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _worker.Dispose();
        if (_resources is not null)
        {
            await _resources.DisposeAsync();
        }
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The in-process std worker failed while stopping")]
    private partial void LogWorkerStopFailed(Exception exception);
}
