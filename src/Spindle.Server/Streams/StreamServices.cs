using Spindle.Storage.Postgres;

namespace Spindle.Server.Streams;

public static class StreamServices
{
    /// <summary>
    /// The event feed that serves the live event streams (it reads the log only while someone listens), and the
    /// activity-stream hub, relayed between servers when they share PostgreSQL.
    /// </summary>
    public static IServiceCollection AddStreams(this IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton<EventFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<EventFeed>());
        services.AddSingleton<ActivityStreamHub>();
        if (!string.IsNullOrWhiteSpace(options.DatabaseUrl))
        {
            var connectionString = PostgresConnectionStrings.FromDatabaseUrl(options.DatabaseUrl);
            services.AddSingleton(sp => new PostgresStreamRelay(connectionString, sp.GetRequiredService<ActivityStreamHub>(),
                sp.GetRequiredService<ILogger<PostgresStreamRelay>>()));
            services.AddHostedService(sp => sp.GetRequiredService<PostgresStreamRelay>());
        }
        return services;
    }
}
