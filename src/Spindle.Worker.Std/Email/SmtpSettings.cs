using System.Globalization;
using System.Net.Security;

namespace Spindle.Worker.Std.Email;

/// <summary>
/// Where <c>email_send</c> delivers: read from <c>SPINDLE_SMTP_HOST</c>, <c>_PORT</c>, <c>_USERNAME</c>,
/// <c>_PASSWORD</c>, <c>_TLS</c> (<c>none</c> | <c>starttls</c> | <c>ssl</c>, default <c>starttls</c>) and
/// <c>_FROM</c> (the default sender). The password is never logged.
/// </summary>
public sealed class SmtpSettings
{
    /// <summary>The SMTP server; null means email is not configured.</summary>
    public string? Host { get; set; }

    /// <summary>The port; null means the usual one for <see cref="Tls"/> (25, 587 or 465).</summary>
    public int? Port { get; set; }

    public string? Username { get; set; }

    public string? Password { get; set; }

    public SmtpTlsMode Tls { get; set; } = SmtpTlsMode.StartTls;

    /// <summary>The sender used when the activity gives no <c>from</c>.</summary>
    public string? From { get; set; }

    /// <summary>Connect, command and data timeout.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Overrides the certificate check (e.g. to trust a private CA); null keeps the system's validation.</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }

    public int EffectivePort => Port ?? Tls switch
    {
        SmtpTlsMode.Ssl => 465,
        SmtpTlsMode.StartTls => 587,
        _ => 25,
    };

    /// <summary>
    /// The server named by an activity's <c>smtp_url</c>: <c>smtp://[user:password@]host[:port][?tls=required|none]</c>
    /// (STARTTLS when offered, or required with <c>tls=required</c>) or <c>smtps://…</c> (implicit TLS). The sender,
    /// timeout and certificate check come from <paramref name="defaults"/>. Messages never quote the password.
    /// </summary>
    public static SmtpSettings FromUrl(string url, SmtpSettings defaults)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(defaults);
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("smtp" or "smtps") || uri.Host.Length == 0)
        {
            throw new FormatException("smtp_url must look like smtp://host:port, smtp://user:password@host:port?tls=required or smtps://host:port");
        }

        var settings = new SmtpSettings
        {
            Host = uri.IdnHost,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? null : uri.Port,
            Tls = uri.Scheme == "smtps" ? SmtpTlsMode.Ssl : SmtpTlsMode.StartTlsWhenAvailable,
            From = defaults.From,
            Timeout = defaults.Timeout,
            ServerCertificateValidation = defaults.ServerCertificateValidation,
        };
        if (uri.UserInfo.Length > 0)
        {
            int colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            settings.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            settings.Password = colon < 0 ? null : Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }

        foreach (string pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = pair.Split('=', 2);
            if (!Uri.UnescapeDataString(parts[0]).Equals("tls", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            string value = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]).Trim().ToLowerInvariant() : "";
            settings.Tls = (uri.Scheme, value) switch
            {
                ("smtps", _) => SmtpTlsMode.Ssl,
                (_, "required" or "starttls" or "true") => SmtpTlsMode.StartTls,
                (_, "none" or "off" or "false" or "disabled") => SmtpTlsMode.None,
                (_, "opportunistic" or "optional" or "") => SmtpTlsMode.StartTlsWhenAvailable,
                _ => throw new FormatException($"smtp_url: tls must be required, opportunistic or none, got '{value}'"),
            };
        }

        return settings;
    }

    public static SmtpSettings FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    public static SmtpSettings FromEnvironment(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        string? Read(string name) => getVariable("SPINDLE_SMTP_" + name) is { } value && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

        var settings = new SmtpSettings
        {
            Host = Read("HOST"),
            Username = Read("USERNAME"),
            Password = getVariable("SPINDLE_SMTP_PASSWORD") is { Length: > 0 } password ? password : null,
            From = Read("FROM"),
        };
        if (Read("PORT") is { } port)
        {
            settings.Port = int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int number) && number is > 0 and <= 65535
                ? number
                : throw new FormatException($"SPINDLE_SMTP_PORT must be a port number (1-65535), got '{port}'");
        }

        if (Read("TLS") is { } tls)
        {
            settings.Tls = ParseTls(tls);
        }

        return settings;
    }

    public static SmtpTlsMode ParseTls(string text) => text.Trim().ToLowerInvariant() switch
    {
        "none" or "off" or "false" or "plain" => SmtpTlsMode.None,
        "starttls" or "start_tls" or "tls" => SmtpTlsMode.StartTls,
        "ssl" or "implicit" or "smtps" => SmtpTlsMode.Ssl,
        _ => throw new FormatException($"SPINDLE_SMTP_TLS must be none, starttls or ssl, got '{text}'"),
    };
}
