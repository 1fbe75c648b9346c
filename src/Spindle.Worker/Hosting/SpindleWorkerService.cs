using Microsoft.Extensions.Hosting;

namespace Spindle.Worker.Hosting;

/// <summary>
/// Runs a <see cref="SpindleWorker"/> as a hosted service. Stopping the host drains the worker (see
/// <see cref="SpindleWorker.RunAsync"/>); the host's shutdown timeout should exceed the worker's.
/// </summary>
public sealed class SpindleWorkerService : BackgroundService, IAsyncDisposable
{
    private readonly SpindleWorker _worker;
    private readonly IAsyncDisposable? _ownedResources;
    private int _disposed;

    /// <param name="worker">The worker to run; disposed with this service.</param>
    /// <param name="ownedResources">Resources used by the handlers (e.g. the std activities), disposed after the worker.</param>
    public SpindleWorkerService(SpindleWorker worker, IAsyncDisposable? ownedResources = null)
    {
        ArgumentNullException.ThrowIfNull(worker);
        _worker = worker;
        _ownedResources = ownedResources;
    }

    public SpindleWorker Worker => _worker;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => _worker.RunAsync(stoppingToken);

    public override void Dispose()
    {
        base.Dispose();
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _worker.Dispose();
            _ownedResources?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        base.Dispose();
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _worker.Dispose();
            if (_ownedResources is not null)
            {
                await _ownedResources.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
