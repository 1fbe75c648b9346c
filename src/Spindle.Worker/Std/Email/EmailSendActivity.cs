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
/// <c>cc</c>, <c>bcc</c>, <c>from</c>, <c>reply_to</c>, <c>subject</c>, <c>text</c>, <c>html</c>, <c>attachments</c>;
/// output <c>{"message_id", "accepted": [addresses]}</c>. 4xx replies and connection errors are retryable; 5xx
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
        if (string.IsNullOrEmpty(_settings.Host))
        {
            throw new ActivityFailureException(EmailErrorCodes.SmtpNotConfigured, "no SMTP server configured (set SPINDLE_SMTP_HOST)", retryable: false);
        }

        MimeMessage message = await EmailMessageBuilder.BuildAsync(context, _settings, Files, cancellationToken).ConfigureAwait(false);
        string host = _settings.Host;
        int port = _settings.EffectivePort;
        using var client = new RecipientTrackingSmtpClient();
        client.Timeout = (int)Math.Min(int.MaxValue, _settings.Timeout.TotalMilliseconds);
        if (_settings.ServerCertificateValidation is { } validation)
        {
            client.ServerCertificateValidationCallback = validation;
        }

        try
        {
            await client.ConnectAsync(host, port, SocketOptions(_settings.Tls), cancellationToken).ConfigureAwait(false);
            if (!string.IsNullOrEmpty(_settings.Username))
            {
                await client.AuthenticateAsync(_settings.Username, _settings.Password ?? "", cancellationToken).ConfigureAwait(false);
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
            ["message_id"] = message.MessageId,
            ["accepted"] = new JsonArray([.. client.Accepted.Select(a => (JsonNode?)JsonValue.Create(a))]),
        };
        return new ActivityResult(output);
    }

    private static SecureSocketOptions SocketOptions(SmtpTlsMode mode) => mode switch
    {
        SmtpTlsMode.None => SecureSocketOptions.None,
        SmtpTlsMode.Ssl => SecureSocketOptions.SslOnConnect,
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

    /// <summary>An SMTP client that remembers which recipients the server accepted.</summary>
    private sealed class RecipientTrackingSmtpClient : SmtpClient
    {
        public List<string> Accepted { get; } = [];

        protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
        {
            Accepted.Add(mailbox.Address);
            base.OnRecipientAccepted(message, mailbox, response);
        }
    }
}
