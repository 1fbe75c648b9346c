using System.Globalization;
using Npgsql;

namespace Spindle.Postgres;

/// <summary>
/// Reads a PostgreSQL address in either form operators use: the libpq URL
/// (<c>postgres://user:password@host:port/database?sslmode=require</c>, also <c>postgresql://</c>) or Npgsql's
/// <c>Host=…;Database=…</c> keywords. The server's <c>--database-url</c> and the std worker's <c>db_url</c> both read
/// addresses this way, so this one file is compiled into Spindle.Storage and Spindle.Worker.Std (internal in each).
/// </summary>
internal static class PostgresUrl
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

    /// <summary>The address as an Npgsql builder.</summary>
    /// <exception cref="FormatException">The URL or connection string cannot be read; the message says why and never quotes the password.</exception>
    public static NpgsqlConnectionStringBuilder Parse(string text) => IsUrl(text) ? FromUrl(text) : FromKeywords(text);

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
                var shown = keyword.Contains("Password", StringComparison.OrdinalIgnoreCase) ? "…" : value;
                throw new FormatException($"The database URL parameter '{name}={shown}' is not understood: {ex.Message}", ex);
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
