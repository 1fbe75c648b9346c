using System.Globalization;
using Npgsql;

namespace Spindle.Storage.Postgres;

/// <summary>
/// Turns <c>--database-url</c> into an Npgsql connection string. Accepts the URL form operators know from libpq
/// (<c>postgres://user:password@host:port/database?sslmode=require</c>) and Npgsql's own <c>Host=…;Database=…</c>
/// form, and fills in the pool settings Spindle relies on unless the operator set them.
/// </summary>
public static class PostgresConnectionStrings
{
    /// <summary>libpq query parameters and the Npgsql keywords they mean.</summary>
    private static readonly Dictionary<string, string> LibpqKeywords = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sslmode"] = "SSL Mode",
        ["sslrootcert"] = "Root Certificate",
        ["sslcert"] = "SSL Certificate",
        ["sslkey"] = "SSL Key",
        ["sslpassword"] = "SSL Password",
        ["application_name"] = "Application Name",
        ["connect_timeout"] = "Timeout",
        ["options"] = "Options",
        ["target_session_attrs"] = "Target Session Attributes",
        ["keepalives_idle"] = "Tcp Keepalive Time",
        ["user"] = "Username",
        ["password"] = "Password",
        ["dbname"] = "Database",
        ["host"] = "Host",
        ["port"] = "Port",
    };

    /// <summary>Whether the text is a URL (rather than an Npgsql connection string).</summary>
    public static bool IsUrl(string value) =>
        value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
        || value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Connections per server unless the URL says otherwise (<c>?Maximum Pool Size=N</c>).</summary>
    public static int DefaultMaxPoolSize { get; } = Math.Max(16, 4 * Environment.ProcessorCount);

    /// <exception cref="FormatException">The URL or connection string cannot be read; the message says why.</exception>
    public static string FromDatabaseUrl(string databaseUrl)
    {
        var builder = IsUrl(databaseUrl) ? FromUrl(databaseUrl) : FromKeywords(databaseUrl);
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

    private static NpgsqlConnectionStringBuilder FromKeywords(string text)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(text);
        }
        catch (ArgumentException ex)
        {
            throw new FormatException(
                $"The database URL is neither postgres://user:password@host:port/database nor an Npgsql connection string: {ex.Message}", ex);
        }
    }

    private static NpgsqlConnectionStringBuilder FromUrl(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            throw new FormatException("The database URL is not a valid URL; expected postgres://user:password@host:port/database.");
        }
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.IdnHost,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
        };
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0)
            {
                builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            }
        }
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length > 0)
        {
            builder.Database = database;
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = Uri.UnescapeDataString(eq < 0 ? "" : pair[(eq + 1)..].Replace('+', ' '));
            var keyword = LibpqKeywords.GetValueOrDefault(name, name);
            if (keyword == "SSL Mode")
            {
                value = SslMode(value);
            }
            try
            {
                builder[keyword] = value;
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException)
            {
                throw new FormatException($"The database URL parameter '{name}={value}' is not understood: {ex.Message}", ex);
            }
        }
        return builder;
    }

    /// <summary>libpq's sslmode values in Npgsql's spelling.</summary>
    private static string SslMode(string value) => value.ToLower(CultureInfo.InvariantCulture) switch
    {
        "verify-ca" => "VerifyCA",
        "verify-full" => "VerifyFull",
        var other => other,
    };
}
