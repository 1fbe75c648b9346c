namespace Spindle.Worker.Std.Email;

/// <summary>How the SMTP connection is secured (<c>SPINDLE_SMTP_TLS</c>).</summary>
public enum SmtpTlsMode
{
    /// <summary>Plain text, no TLS (local relays and test servers only).</summary>
    None,

    /// <summary>Connect in plain text, then upgrade with STARTTLS; fails when the server does not offer it.</summary>
    StartTls,

    /// <summary>TLS from the first byte (implicit TLS, usually port 465).</summary>
    Ssl,

    /// <summary>Upgrade with STARTTLS when the server offers it, else stay plain (<c>smtp://</c> without <c>?tls=</c>).</summary>
    StartTlsWhenAvailable,
}
