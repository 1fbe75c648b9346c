using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MimeKit;

namespace Spindle.Worker.Std.Email;

/// <summary>
/// Builds the MIME message of <c>email_send</c> from its parameters: addresses, subject, text and/or HTML body, and
/// attachments given inline (base64 or text) or as workflow file references downloaded through the API.
/// </summary>
internal static class EmailMessageBuilder
{
    public static async Task<MimeMessage> BuildAsync(ActivityContext context, SmtpSettings settings, IWorkflowFileSource? files, CancellationToken cancellationToken)
    {
        JsonObject parameters = context.Parameters;
        var message = new MimeMessage();

        string from = StdParameters.OptionalString(parameters, "from") is { Length: > 0 } given
            ? given
            : settings.From ?? throw new ActivityFailureException(EmailErrorCodes.SmtpNotConfigured, "no sender: give parameter 'from' or set SPINDLE_SMTP_FROM", retryable: false);
        message.From.AddRange(Addresses(from, "from"));
        AddRecipients(message.To, parameters, "to");
        AddRecipients(message.Cc, parameters, "cc");
        AddRecipients(message.Bcc, parameters, "bcc");
        if (message.To.Count + message.Cc.Count + message.Bcc.Count == 0)
        {
            throw StdParameters.Invalid("parameter 'to' (an address or a list of addresses) is required");
        }

        if (StdParameters.OptionalString(parameters, "reply_to") is { Length: > 0 } replyTo)
        {
            message.ReplyTo.AddRange(Addresses(replyTo, "reply_to"));
        }

        message.Subject = StdParameters.OptionalString(parameters, "subject") ?? "";
        message.Date = DateTimeOffset.UtcNow;
        message.MessageId = MessageId(context, message.From.Mailboxes.First());

        var body = new BodyBuilder
        {
            TextBody = StdParameters.FirstString(parameters, "text_body", "text"),
            HtmlBody = StdParameters.FirstString(parameters, "html_body", "html"),
        };
        if (body.TextBody is null && body.HtmlBody is null)
        {
            throw StdParameters.Invalid("parameter 'text_body' or 'html_body' (the message body; also 'text', 'html') is required");
        }

        if (StdParameters.OptionalArray(parameters, "attachments") is { } attachments)
        {
            for (int i = 0; i < attachments.Count; i++)
            {
                (string name, byte[] content, string contentType) = await ReadAttachmentAsync(attachments[i], i, files, cancellationToken).ConfigureAwait(false);
                MimeEntity attachment = body.Attachments.Add(name, content, ContentType.Parse(contentType));
                if (attachment is MimePart part)
                {
                    // Base64 keeps the bytes exact; 7bit/quoted-printable would rewrite the line endings of text files.
                    part.ContentTransferEncoding = ContentEncoding.Base64;
                }
            }
        }

        message.Body = body.ToMessageBody();
        return message;
    }

    /// <summary>
    /// The same for every attempt of one execution (workflow, activity key, iteration), so that a resend after a lost
    /// result carries the same Message-ID and receivers can drop the duplicate.
    /// </summary>
    private static string MessageId(ActivityContext context, MailboxAddress from)
    {
        string seed = $"{context.WorkflowId}/{context.ActivityKey}/{context.Iteration}";
        string local = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(seed)))[..32];
        string domain = from.Domain is { Length: > 0 } d ? d : "spindle.local";
        return $"{local}.spindle@{domain}";
    }

    private static void AddRecipients(InternetAddressList list, JsonObject parameters, string name)
    {
        // Not a collection expression: its type would be JsonArray, which cannot adopt a node that has a parent.
        IEnumerable<JsonNode?> values = parameters[name] switch
        {
            null => Array.Empty<JsonNode?>(),
            JsonArray array => array,
            JsonNode single => new[] { single },
        };
        foreach (JsonNode? value in values)
        {
            string text = value is JsonValue v && v.GetValueKind() == JsonValueKind.String
                ? v.GetValue<string>()
                : throw StdParameters.Invalid($"parameter '{name}' must be an address or a list of addresses");
            list.AddRange(Addresses(text, name));
        }
    }

    private static IEnumerable<MailboxAddress> Addresses(string text, string name)
    {
        if (!InternetAddressList.TryParse(text, out InternetAddressList? parsed) || parsed.Count == 0)
        {
            throw StdParameters.Invalid($"parameter '{name}' is not a valid address list: '{text}'");
        }

        List<MailboxAddress> mailboxes = [.. parsed.Mailboxes];
        return mailboxes.Count > 0 && mailboxes.All(m => m.Address.Contains('@', StringComparison.Ordinal))
            ? mailboxes
            : throw StdParameters.Invalid($"parameter '{name}' must hold addresses like user@example.com, got '{text}'");
    }

    private static async Task<(string Name, byte[] Content, string ContentType)> ReadAttachmentAsync(JsonNode? item, int index, IWorkflowFileSource? files, CancellationToken cancellationToken)
    {
        string where = $"attachments[{index}]";
        JsonObject spec = item switch
        {
            JsonValue value when value.GetValueKind() == JsonValueKind.String => new JsonObject { ["file"] = value.GetValue<string>() },
            JsonObject obj => obj,
            _ => throw StdParameters.Invalid($"{where} must be a workflow file reference (postgres://…) or an object {{filename, content_base64, content_type}}"),
        };

        string? name = StdParameters.OptionalString(spec, "filename");
        string? contentType = StdParameters.OptionalString(spec, "content_type");
        byte[] content;
        string? reference = StdParameters.OptionalString(spec, "file") ?? StdParameters.OptionalString(spec, "reference") ?? StdParameters.OptionalString(spec, "url");
        if (reference is not null)
        {
            if (!WorkflowFileReference.TryParse(reference, out WorkflowFileReference? file))
            {
                throw StdParameters.Invalid($"{where}: '{reference}' is not a workflow file reference (postgres://{{workflow_id}}/{{activity_key}}/{{filename}})");
            }

            WorkflowFile downloaded = await DownloadAsync(file, where, files, cancellationToken).ConfigureAwait(false);
            content = downloaded.Content;
            name ??= Path.GetFileName(file.FileName);
            contentType ??= downloaded.ContentType is { Length: > 0 } stored && stored != "application/octet-stream" ? stored : null;
        }
        else if (StdParameters.OptionalString(spec, "content_base64") is { } base64)
        {
            try
            {
                content = Convert.FromBase64String(base64);
            }
            catch (FormatException)
            {
                throw StdParameters.Invalid($"{where}.content_base64 is not valid base64");
            }
        }
        else if (StdParameters.OptionalString(spec, "content") is { } text)
        {
            content = Encoding.UTF8.GetBytes(text);
            contentType ??= "text/plain; charset=utf-8";
        }
        else
        {
            throw StdParameters.Invalid($"{where} needs 'file' (a workflow file reference), 'content_base64' or 'content'");
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            throw StdParameters.Invalid($"{where}.filename is required");
        }

        contentType ??= MimeTypes.GetMimeType(name);
        if (!ContentType.TryParse(contentType, out _))
        {
            throw StdParameters.Invalid($"{where}.content_type is not a valid content type: '{contentType}'");
        }

        return (name, content, contentType);
    }

    private static async Task<WorkflowFile> DownloadAsync(WorkflowFileReference file, string where, IWorkflowFileSource? files, CancellationToken cancellationToken)
    {
        if (files is null)
        {
            throw new ActivityFailureException(EmailErrorCodes.AttachmentError, $"{where}: workflow files cannot be read: this worker has no Spindle API client for file downloads", retryable: false);
        }

        try
        {
            return await files.DownloadAsync(file, cancellationToken).ConfigureAwait(false);
        }
        catch (SpindleApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            throw new ActivityFailureException(EmailErrorCodes.AttachmentError, $"{where}: {file} does not exist", retryable: false, ex);
        }
        catch (Exception ex) when (ex is not ActivityFailureException && !cancellationToken.IsCancellationRequested)
        {
            bool retryable = SpindleApiClient.IsTransient(ex);
            throw new ActivityFailureException(EmailErrorCodes.AttachmentError, $"{where}: downloading {file} failed: {ex.Message}", retryable, ex);
        }
    }
}
