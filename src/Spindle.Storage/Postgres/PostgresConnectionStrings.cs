using Npgsql;
using Spindle.Postgres;

namespace Spindle.Storage.Postgres;

/// <summary>
/// Turns <c>--database-url</c> into an Npgsql connection string. Accepts the URL form operators know from libpq
/// (<c>postgres://user:password@host:port/database?sslmode=require</c>) and Npgsql's own <c>Host=…;Database=…</c>
/// form, and fills in the pool settings Spindle relies on unless the operator set them.
/// </summary>
public static class PostgresConnectionStrings
{
    /// <summary>Whether the text is a URL (rather than an Npgsql connection string).</summary>
    public static bool IsUrl(string value) => PostgresUrl.IsUrl(value);

    /// <summary>Connections per server unless the URL says otherwise (<c>?Maximum Pool Size=N</c>).</summary>
    public static int DefaultMaxPoolSize { get; } = Math.Max(16, 4 * Environment.ProcessorCount);

    /// <exception cref="FormatException">The URL or connection string cannot be read; the message says why.</exception>
    public static string FromDatabaseUrl(string databaseUrl)
    {
        var builder = PostgresUrl.Parse(databaseUrl);
        if (string.IsNullOrEmpty(builder.Host))
        {
            throw new FormatException("The database URL names no host (postgres://user:password@host:5432/database).");
        }
        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = "spindle";
        }
        // Statements are few and repeated; let Npgsql prepare them on the server after their second use.
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 64;
            builder.AutoPrepareMinUsages = 2;
        }
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = builder.ConnectionString };
        // Every transaction is short and none waits for a second connection, so a few connections per core keep the
        // database busy; Npgsql's default of 100 let a burst fork a backend per request, and on 2 cores the extra
        // backends only added context switches (bench: High-Concurrency-3 +5-15 %, Parallel-10 +15 % at 16).
        if (!given.ContainsKey("Maximum Pool Size"))
        {
            builder.MaxPoolSize = DefaultMaxPoolSize;
        }
        // Spindle keeps no session state on pooled connections (the migration lock is released in a finally, the
        // listener has its own connection), so the reset statements Npgsql would send with every reuse (RESET ALL,
        // UNLISTEN *, DISCARD …: six per transaction) are pure database CPU.
        if (!given.ContainsKey("No Reset On Close"))
        {
            builder.NoResetOnClose = true;
        }
        return builder.ConnectionString;
    }

    /// <summary>The same connection string with the password hidden, for logs and messages.</summary>
    public static string Describe(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{builder.Host}:{builder.Port}/{builder.Database} as {builder.Username}";
    }
}
