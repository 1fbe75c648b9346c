using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spindle.Worker.Hosting;

namespace Spindle.Worker;

public static class SpindleWorkerServiceCollectionExtensions
{
    /// <summary>
    /// Hosts a worker with the handlers added by <paramref name="register"/>, which may return resources to dispose
    /// when the worker has stopped.
    /// </summary>
    public static IServiceCollection AddSpindleWorker(this IServiceCollection services, Action<SpindleWorkerOptions> configure, Func<ActivityRegistry, IAsyncDisposable?> register)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        ArgumentNullException.ThrowIfNull(register);

        var options = new SpindleWorkerOptions();
        configure(options);

        services.PostConfigure<HostOptions>(host =>
        {
            TimeSpan needed = options.ShutdownTimeout + TimeSpan.FromSeconds(10);
            if (host.ShutdownTimeout < needed)
            {
                host.ShutdownTimeout = needed;
            }
        });

        services.AddSingleton<IHostedService>(provider =>
        {
            ILoggerFactory loggers = provider.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            var registry = new ActivityRegistry();
            IAsyncDisposable? resources = register(registry);
            var worker = new SpindleWorker(options, registry, loggers.CreateLogger<SpindleWorker>());
            return new SpindleWorkerService(worker, resources);
        });
        return services;
    }
}
