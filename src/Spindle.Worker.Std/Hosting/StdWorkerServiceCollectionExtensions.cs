using Microsoft.Extensions.DependencyInjection;

namespace Spindle.Worker.Std;

public static class StdWorkerServiceCollectionExtensions
{
    /// <summary>
    /// Hosts the built-in <c>std</c> worker (echo, http_request, postgres_query, postgres_transaction) in this
    /// process. It still talks to the server over HTTP only (normally loopback), so <paramref name="configure"/>
    /// must set <see cref="SpindleWorkerOptions.ApiUrl"/>, and the client id/secret unless the server runs in
    /// insecure dev mode. The host's shutdown timeout is raised, if needed, to the worker's drain time + 10 s.
    /// </summary>
    public static IServiceCollection AddSpindleStdWorker(this IServiceCollection services, Action<SpindleWorkerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddSpindleWorker(configure, registry => StdActivities.Register(registry));
    }
}
