using Spindle.Server.Auth;
using Spindle.Storage;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;

namespace Spindle.Server.Streams;

public static class StreamServices
{
    /// <summary>
    /// The event feed that serves the live event streams (it reads the log only while someone listens), and the
    /// activity-stream hub, relayed between servers when they share PostgreSQL; the publish check, the per-client
    /// connection bound, stream tickets, and the subscriber counts (cluster-wide with PostgreSQL).
    /// </summary>
    public static IServiceCollection AddStreams(this IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton<EventFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<EventFeed>());
        services.AddSingleton<ActivityStreamHub>();
        services.AddSingleton<StreamConnections>();
        services.AddSingleton(sp => new StreamTickets(sp.GetRequiredService<IOneTimeCodeStore>(), options.Clock));
        services.AddSingleton<StreamPublishers>();
        if (!string.IsNullOrWhiteSpace(options.DatabaseUrl))
        {
            var connectionString = PostgresConnectionStrings.FromDatabaseUrl(options.DatabaseUrl);
            services.AddSingleton(sp => new PostgresStreamRelay(connectionString, sp.GetRequiredService<ActivityStreamHub>(),
                sp.GetRequiredService<ILogger<PostgresStreamRelay>>()));
            services.AddHostedService(sp => sp.GetRequiredService<PostgresStreamRelay>());
            services.AddSingleton<IActivityLeases>(sp => new PostgresActivityLeases(((PostgresWorkflowStore)sp.GetRequiredService<IWorkflowStore>()).DataSource));
            services.AddSingleton(sp => new PostgresStreamPresence((PostgresWorkflowStore)sp.GetRequiredService<IWorkflowStore>(),
                sp.GetRequiredService<EventFeed>(), sp.GetRequiredService<ActivityStreamHub>(), sp.GetRequiredService<ILogger<PostgresStreamPresence>>()));
            services.AddSingleton<IStreamPresence>(sp => sp.GetRequiredService<PostgresStreamPresence>());
            services.AddHostedService(sp => sp.GetRequiredService<PostgresStreamPresence>());
        }
        else
        {
            services.AddSingleton<IActivityLeases>(new SqliteActivityLeases(options.DatabasePath));
            services.AddSingleton<IStreamPresence, LocalStreamPresence>();
        }
        return services;
    }
}
