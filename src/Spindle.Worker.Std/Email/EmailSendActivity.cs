using System.Net.Sockets;
using System.Text.Json.Nodes;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;

namespace Spindle.Worker.Std.Email;

/// <summary>
/// <c>email_send</c>: sends one message through the configured SMTP server with MailKit. Parameters <c>to</c>,
/// <c>cc</c>, <c>bcc</c>, <c>from</c>, <c>reply_to</c>, <c>subject</c>, <c>text_body</c> (also <c>text</c>), <c>html_body</c> (also <c>html</c>), <c>attachments</c>,
/// and <c>smtp_url</c> (else the worker's SMTP settings); output <c>{"result": {"success", "message_id",
/// "recipients_accepted", "recipients_rejected"}}</c>. 4xx replies and connection errors are retryable; 5xx
/// replies, TLS and authentication failures are not.
/// </summary>
public sealed class EmailSendActivity
{
    private readonly SmtpSettings _settings;
    private readonly ILogger _logger;

    public EmailSendActivity(SmtpSettings settings, IWorkflowFileSource? files = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        Files = files;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Where workflow-file attachments are read; null until the worker's API client is attached.</summary>
    public IWorkflowFileSource? Files { get; set; }

    public async Task<ActivityResult> ExecuteAsync(ActivityContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        SmtpSettings settings = _settings;
        if (StdParameters.OptionalString(context.Parameters, "smtp_url") is { Length: > 0 } smtpUrl)
        {
            try
            {
                settings = SmtpSettings.FromUrl(smtpUrl, _settings);
            }
            catch (FormatException ex)
            {
                throw StdParameters.Invalid($"parameter 'smtp_url' is invalid: {ex.Message}");
            }
        }

        if (string.IsNullOrEmpty(settings.Host))
        {
            throw new ActivityFailureException(EmailErrorCodes.SmtpNotConfigured, "no SMTP server configured (give parameter 'smtp_url' or set SPINDLE_SMTP_HOST)", retryable: false);
        }

        MimeMessage message = await EmailMessageBuilder.BuildAsync(context, settings, Files, cancellationToken).ConfigureAwait(false);
        string host = settings.Host;
        int port = settings.EffectivePort;
        using var client = new RecipientTrackingSmtpClient();
        client.Timeout = (int)Math.Min(int.MaxValue, settings.Timeout.TotalMilliseconds);
        if (settings.ServerCertificateValidation is { } validation)
        {
            client.ServerCertificateValidationCallback = validation;
        }

        try
        {
            await client.ConnectAsync(host, port, SocketOptions(settings.Tls), cancellationToken).ConfigureAwait(false);
            if (!string.IsNullOrEmpty(settings.Username))
            {
                await client.AuthenticateAsync(settings.Username, settings.Password ?? "", cancellationToken).ConfigureAwait(false);
            }

            await client.SendAsync(message, cancellationToken).ConfigureAwait(false);
            await client.DisconnectAsync(quit: true, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && Classify(ex) is { } failure)
        {
            _logger.EmailFailed(host, port, failure.Retryable, failure.Message);
            throw new ActivityFailureException(EmailErrorCodes.SmtpError, $"{host}:{port}: {failure.Message}", failure.Retryable, ex);
        }

        _logger.EmailSent(message.MessageId ?? "", host, port, client.Accepted.Count);
        var output = new JsonObject
        {
            ["result"] = new JsonObject
            {
                ["success"] = client.Accepted.Count > 0,
                ["message_id"] = message.MessageId,
                ["recipients_accepted"] = new JsonArray([.. client.Accepted.Select(a => (JsonNode?)JsonValue.Create(a))]),
                ["recipients_rejected"] = new JsonArray([.. client.Rejected.Select(a => (JsonNode?)JsonValue.Create(a))]),
            },
        };
        return new ActivityResult(output);
    }

    private static SecureSocketOptions SocketOptions(SmtpTlsMode mode) => mode switch
    {
        SmtpTlsMode.None => SecureSocketOptions.None,
        SmtpTlsMode.Ssl => SecureSocketOptions.SslOnConnect,
        SmtpTlsMode.StartTlsWhenAvailable => SecureSocketOptions.StartTlsWhenAvailable,
        _ => SecureSocketOptions.StartTls,
    };

    /// <summary>
    /// SMTP replies say themselves whether to try again: 4xx is transient and 5xx permanent (RFC 5321 §4.2.1).
    /// Broken connections are transient; TLS and credential problems need an operator.
    /// </summary>
    private static (string Message, bool Retryable)? Classify(Exception exception) => exception switch
    {
        SmtpCommandException command => (
            $"SMTP {(int)command.StatusCode} {command.Message}" + (command.Mailbox is { } mailbox ? $" ({mailbox.Address})" : ""),
            (int)command.StatusCode is >= 400 and < 500),
        AuthenticationException auth => ($"authentication failed: {auth.Message}", false),
        SslHandshakeException tls => ($"TLS handshake failed: {tls.Message}", false),
        NotSupportedException unsupported => ($"not supported by the server: {unsupported.Message}", false),
        SmtpProtocolException protocol => ($"protocol error: {protocol.Message}", true),
        ServiceNotConnectedException or ServiceNotAuthenticatedException => ($"connection lost: {exception.Message}", true),
        SocketException or IOException or TimeoutException => ($"connection failed: {exception.Message}", true),
        OperationCanceledException => ($"timed out: {exception.Message}", true),
        _ => null,
    };

    /// <summary>
    /// An SMTP client that remembers which recipients the server accepted and which it refused for good (5xx): the
    /// message still goes to the others, as in the reference engine. A transient refusal (4xx) fails the send before
    /// anything is delivered, so a retry reaches everyone; so does a message no recipient accepted.
    /// </summary>
    private sealed class RecipientTrackingSmtpClient : SmtpClient
    {
        private (MailboxAddress Mailbox, SmtpResponse Response)? _firstRejection;

        public List<string> Accepted { get; } = [];

        public List<string> Rejected { get; } = [];

        protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
        {
            Accepted.Add(mailbox.Address);
            base.OnRecipientAccepted(message, mailbox, response);
        }

        protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
        {
            if ((int)response.StatusCode is < 500 or > 599)
            {
                base.OnRecipientNotAccepted(message, mailbox, response);
                return;
            }

            Rejected.Add(mailbox.Address);
            _firstRejection ??= (mailbox, response);
        }

        protected override void OnNoRecipientsAccepted(MimeMessage message)
        {
            if (_firstRejection is { } first)
            {
                throw new SmtpCommandException(SmtpErrorCode.RecipientNotAccepted, first.Response.StatusCode, first.Mailbox, first.Response.Response);
            }

            base.OnNoRecipientsAccepted(message);
        }
    }
}
