using Spindle.Core.Orchestration;
using Spindle.Server.Wakeups;
using Spindle.Storage;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;

namespace Spindle.Server.Hosting;

/// <summary>
/// Picks the backend: PostgreSQL when a database URL is given (several servers may share it, so it also listens for
/// their wake-ups), else the SQLite file under the data directory.
/// </summary>
public static class WorkflowStoreSelection
{
    public static IServiceCollection AddWorkflowStore(this IServiceCollection services, ServerOptions options, EngineDefaults defaults,
        WakeupHub hub)
    {
        if (string.IsNullOrWhiteSpace(options.DatabaseUrl))
        {
            services.AddSingleton<IClientStore>(new SqliteClientStore(options.DatabasePath));
            services.AddSingleton<IOneTimeCodeStore>(new SqliteOneTimeCodeStore(options.DatabasePath));
            services.AddSingleton<IFileStore>(new SqliteFileStore(options.DatabasePath));
            services.AddSingleton<IEventLog>(new SqliteEventLog(options.DatabasePath));
            services.AddSingleton<IQueueStore>(new SqliteQueueStore(options.DatabasePath));
            var sqlite = new SqliteWorkflowStore(options.DatabasePath, defaults, hub);
            // The reads are the same instance, registered as is so that the container does not dispose it twice.
            services.AddSingleton<IWorkflowReader>(sqlite);
            return services.AddSingleton<IWorkflowStore>(sqlite);
        }
        var store = new PostgresWorkflowStore(options.DatabaseUrl, defaults, hub);
        // Registered through a factory so that the container disposes it (and its connection pool) with the host.
        services.AddSingleton<IWorkflowStore>(_ => store);
        services.AddSingleton<IWorkflowReader>(store);
        services.AddSingleton<IClientStore>(new PostgresClientStore(store.DataSource));
        services.AddSingleton<IOneTimeCodeStore>(new PostgresOneTimeCodeStore(store.DataSource));
        services.AddSingleton<IFileStore>(new PostgresFileStore(store.DataSource));
        services.AddSingleton<IEventLog>(new PostgresEventLog(store.DataSource));
        services.AddSingleton<IQueueStore>(new PostgresQueueStore(store.DataSource));
        services.AddSingleton(sp => new PostgresWakeupListener(store.ConnectionString, hub, store.Notifications,
            sp.GetRequiredService<ILogger<PostgresWakeupListener>>()));
        services.AddHostedService(sp => sp.GetRequiredService<PostgresWakeupListener>());
        return services;
    }
}
