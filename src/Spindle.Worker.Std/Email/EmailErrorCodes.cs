namespace Spindle.Worker.Std.Email;

/// <summary>Error codes of <c>email_send</c> (besides <see cref="ErrorCodes.InvalidParameters"/>).</summary>
public static class EmailErrorCodes
{
    /// <summary>The SMTP exchange failed: retryable for 4xx replies and connection problems, not for 5xx, TLS or authentication errors.</summary>
    public const string SmtpError = "SMTP_ERROR";

    /// <summary>No SMTP server or sender is configured (not retryable).</summary>
    public const string SmtpNotConfigured = "SMTP_NOT_CONFIGURED";

    /// <summary>A workflow-file attachment could not be read: retryable for transient API errors, not for a missing file.</summary>
    public const string AttachmentError = "ATTACHMENT_ERROR";
}
