using Microsoft.Extensions.Logging;

namespace Spindle.Worker.Std.Email;

/// <summary>Source-generated log messages of <c>email_send</c>. Bodies, attachments and credentials are never logged.</summary>
internal static partial class EmailLog
{
    [LoggerMessage(EventId = 350, Level = LogLevel.Information, Message = "Sent email {MessageId} via {Host}:{Port} to {RecipientCount} recipients")]
    public static partial void EmailSent(this ILogger logger, string messageId, string host, int port, int recipientCount);

    [LoggerMessage(EventId = 351, Level = LogLevel.Warning, Message = "Sending email via {Host}:{Port} failed (retryable {Retryable}): {Reason}")]
    public static partial void EmailFailed(this ILogger logger, string host, int port, bool retryable, string reason);
}
