using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using MimeKit;
using Spindle.Worker.Std;
using Spindle.Worker.Std.Email;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests.Email;

public sealed class EmailSendActivityTests
{
    [Fact]
    public async Task Execute_PlainSmtp_SendsTextHtmlAndAttachmentToAllRecipients()
    {
        await using var server = new TinySmtpServer();
        byte[] csv = Encoding.UTF8.GetBytes("a,b\n1,2\n");

        ActivityResult result = await RunAsync(server, Plain(server), $$"""
            {"from": "Reports <reports@example.test>", "to": ["alice@example.test", "Bob <bob@example.test>"],
             "cc": "carol@example.test", "bcc": ["dave@example.test"], "reply_to": "help@example.test",
             "subject": "Weekly report ✓", "text": "Plain body", "html": "<p>HTML body</p>",
             "attachments": [{"filename": "report.csv", "content_base64": "{{Convert.ToBase64String(csv)}}", "content_type": "text/csv"},
                             {"filename": "notes.txt", "content": "just text"}]}
            """);

        ReceivedMail mail = Assert.Single(server.Received);
        Assert.False(mail.Secure);
        Assert.Equal("reports@example.test", mail.MailFrom);
        Assert.Equal(["alice@example.test", "bob@example.test", "carol@example.test", "dave@example.test"], mail.Recipients);
        MimeMessage message = mail.Message;
        Assert.Equal("Weekly report ✓", message.Subject);
        Assert.Equal("Plain body", message.TextBody!.TrimEnd());
        Assert.Equal("<p>HTML body</p>", message.HtmlBody!.TrimEnd());
        Assert.Empty(message.Bcc);
        Assert.Equal("help@example.test", Assert.Single(message.ReplyTo.Mailboxes).Address);

        MimePart[] attachments = [.. message.Attachments.OfType<MimePart>()];
        Assert.Equal(["report.csv", "notes.txt"], attachments.Select(a => a.FileName));
        Assert.Equal("text/csv", attachments[0].ContentType.MimeType);
        Assert.Equal(csv, Decode(attachments[0]));
        Assert.Equal("just text", Encoding.UTF8.GetString(Decode(attachments[1])));

        JsonObject sent = result.Output["result"]!.AsObject();
        Assert.True(sent["success"]!.GetValue<bool>());
        Assert.Equal(message.MessageId, sent["message_id"]!.GetValue<string>());
        Assert.Equal("""["alice@example.test","bob@example.test","carol@example.test","dave@example.test"]""", sent["recipients_accepted"]!.ToJsonString());
        Assert.Empty(sent["recipients_rejected"]!.AsArray());
    }

    [Fact]
    public async Task Execute_StartTlsWithAuth_UpgradesBeforeCredentialsAndMail()
    {
        await using var server = new TinySmtpServer(offerStartTls: true, requireTls: true, credentials: ("mailer", "s3cret"));
        var settings = new SmtpSettings
        {
            Host = "127.0.0.1",
            Port = server.Port,
            Tls = SmtpTlsMode.StartTls,
            Username = "mailer",
            Password = "s3cret",
            From = "noreply@example.test",
            ServerCertificateValidation = (_, certificate, _, _) => certificate?.GetCertHashString() == server.Certificate!.GetCertHashString(),
        };

        await RunAsync(server, settings, """{"to": "alice@example.test", "subject": "Hi", "text": "Over TLS"}""");

        ReceivedMail mail = Assert.Single(server.Received);
        Assert.True(mail.Secure);
        Assert.Equal("mailer", mail.AuthenticatedUser);
        Assert.Equal("noreply@example.test", mail.MailFrom);
        Assert.Equal("Over TLS", mail.Message.TextBody!.TrimEnd());
    }

    [Fact]
    public async Task Execute_UntrustedCertificate_FailsNotRetryable()
    {
        await using var server = new TinySmtpServer(offerStartTls: true, requireTls: true);
        SmtpSettings settings = Plain(server);
        settings.Tls = SmtpTlsMode.StartTls;

        ActivityFailureException failure = await FailAsync(server, settings, """{"to": "a@example.test", "text": "x"}""");

        Assert.Equal(EmailErrorCodes.SmtpError, failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains("TLS", failure.Message, StringComparison.Ordinal);
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task Execute_TransientReply_FailsRetryable()
    {
        await using var server = new TinySmtpServer { MailFromReply = "451 4.3.0 Try again later" };

        ActivityFailureException failure = await FailAsync(server, Plain(server), """{"to": "a@example.test", "text": "x"}""");

        Assert.Equal(EmailErrorCodes.SmtpError, failure.Code);
        Assert.True(failure.Retryable);
        Assert.Contains("451", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_OneRecipientRejectedPermanently_DeliversToOthersAndListsRejected()
    {
        await using var server = new TinySmtpServer();
        server.RecipientReplies["nobody@example.test"] = "550 5.1.1 No such user";

        ActivityResult result = await RunAsync(server, Plain(server), """{"to": ["a@example.test", "nobody@example.test"], "text_body": "x"}""");

        Assert.Equal(["a@example.test"], Assert.Single(server.Received).Recipients);
        JsonObject sent = result.Output["result"]!.AsObject();
        Assert.True(sent["success"]!.GetValue<bool>());
        Assert.Equal("""["a@example.test"]""", sent["recipients_accepted"]!.ToJsonString());
        Assert.Equal("""["nobody@example.test"]""", sent["recipients_rejected"]!.ToJsonString());
    }

    [Fact]
    public async Task Execute_SmtpUrlParameter_OverridesWorkerSettings()
    {
        await using var server = new TinySmtpServer();

        ActivityResult result = await new EmailSendActivity(new SmtpSettings()).ExecuteAsync(
            Context($$"""{"smtp_url": "smtp://127.0.0.1:{{server.Port}}", "from": "a@example.test", "to": ["b@example.test"], "subject": "s", "text_body": "t", "html_body": "<b>h</b>"}"""),
            CancellationToken.None);

        ReceivedMail mail = Assert.Single(server.Received);
        Assert.Equal("t", mail.Message.TextBody!.TrimEnd());
        Assert.Equal("<b>h</b>", mail.Message.HtmlBody!.TrimEnd());
        Assert.Equal("""["b@example.test"]""", result.Output["result"]!["recipients_accepted"]!.ToJsonString());
    }

    [Fact]
    public async Task Execute_EveryRecipientRejectedPermanently_FailsNotRetryable()
    {
        await using var server = new TinySmtpServer();
        server.RecipientReplies["nobody@example.test"] = "550 5.1.1 No such user";

        ActivityFailureException failure = await FailAsync(server, Plain(server), """{"to": ["nobody@example.test"], "text": "x"}""");

        Assert.False(failure.Retryable);
        Assert.Contains("550", failure.Message, StringComparison.Ordinal);
        Assert.Contains("nobody@example.test", failure.Message, StringComparison.Ordinal);
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task Execute_ServerUnreachable_FailsRetryable()
    {
        var settings = new SmtpSettings { Host = "127.0.0.1", Port = 1, Tls = SmtpTlsMode.None, From = "x@example.test", Timeout = TimeSpan.FromSeconds(5) };

        ActivityFailureException failure = await Assert.ThrowsAsync<ActivityFailureException>(() =>
            new EmailSendActivity(settings).ExecuteAsync(Context("""{"to": "a@example.test", "text": "x"}"""), CancellationToken.None));

        Assert.Equal(EmailErrorCodes.SmtpError, failure.Code);
        Assert.True(failure.Retryable);
    }

    [Fact]
    public async Task Execute_NoHostConfigured_FailsNotConfigured()
    {
        ActivityFailureException failure = await Assert.ThrowsAsync<ActivityFailureException>(() =>
            new EmailSendActivity(new SmtpSettings()).ExecuteAsync(Context("""{"to": "a@example.test", "text": "x"}"""), CancellationToken.None));

        Assert.Equal(EmailErrorCodes.SmtpNotConfigured, failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains("SPINDLE_SMTP_HOST", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_SameExecutionTwice_UsesTheSameMessageId()
    {
        await using var server = new TinySmtpServer();
        const string parameters = """{"to": "a@example.test", "text": "x"}""";

        ActivityResult first = await RunAsync(server, Plain(server), parameters);
        ActivityResult second = await RunAsync(server, Plain(server), parameters);

        Assert.Equal(first.Output["result"]!["message_id"]!.GetValue<string>(), second.Output["result"]!["message_id"]!.GetValue<string>());
        Assert.EndsWith("@example.test", first.Output["result"]!["message_id"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_WorkflowFileAttachment_IsDownloadedThroughTheApi()
    {
        await using var smtp = new TinySmtpServer();
        byte[] pdf = [0x25, 0x50, 0x44, 0x46, 0x2D, 0x31, 0x00, 0xFF];
        var paths = new List<string>();
        await using LoopbackServer api = await LoopbackServer.StartAsync(app =>
            app.MapGet("/api/v1/workflows/{wf}/activities/{key}/files/{name}", async (HttpContext http, string wf, string key, string name) =>
            {
                paths.Add(http.Request.Path.Value!);
                if (name != "summary.pdf")
                {
                    http.Response.StatusCode = 404;
                    return;
                }

                http.Response.ContentType = "application/pdf";
                await http.Response.Body.WriteAsync(pdf);
            }));
        using var client = new SpindleApiClient(new SpindleWorkerOptions { ApiUrl = api.BaseAddress });
        using HttpClient http = HttpRequestActivity.CreateDefaultHttpClient();
        var activity = new EmailSendActivity(Plain(smtp), new SpindleApiFileSource(client, http));

        await activity.ExecuteAsync(Context("""
            {"from": "a@example.test", "to": "b@example.test", "text": "see attached",
             "attachments": ["postgres://wf-9/report/summary.pdf", {"file": "postgres://wf-9/report/summary.pdf", "filename": "renamed.pdf"}]}
            """), CancellationToken.None);

        Assert.Equal(["/api/v1/workflows/wf-9/activities/report/files/summary.pdf", "/api/v1/workflows/wf-9/activities/report/files/summary.pdf"], paths);
        MimePart[] attachments = [.. Assert.Single(smtp.Received).Message.Attachments.OfType<MimePart>()];
        Assert.Equal(["summary.pdf", "renamed.pdf"], attachments.Select(a => a.FileName));
        Assert.All(attachments, a => Assert.Equal("application/pdf", a.ContentType.MimeType));
        Assert.All(attachments, a => Assert.Equal(pdf, Decode(a)));

        ActivityFailureException missing = await Assert.ThrowsAsync<ActivityFailureException>(() => activity.ExecuteAsync(Context("""
            {"from": "a@example.test", "to": "b@example.test", "text": "x", "attachments": ["postgres://wf-9/report/missing.pdf"]}
            """), CancellationToken.None));
        Assert.Equal(EmailErrorCodes.AttachmentError, missing.Code);
        Assert.False(missing.Retryable);
        Assert.Single(smtp.Received);
    }

    [Fact]
    public async Task Execute_WorkflowFileWithoutApiClient_FailsClearly()
    {
        await using var server = new TinySmtpServer();

        ActivityFailureException failure = await FailAsync(server, Plain(server), """{"to": "a@example.test", "text": "x", "attachments": ["postgres://wf/k/f.txt"]}""");

        Assert.Equal(EmailErrorCodes.AttachmentError, failure.Code);
        Assert.Contains("API client", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"text": "x"}""", "'to'")]
    [InlineData("""{"to": "not an address", "text": "x"}""", "'to'")]
    [InlineData("""{"to": 5, "text": "x"}""", "'to'")]
    [InlineData("""{"to": "a@example.test"}""", "'text_body' or 'html_body'")]
    [InlineData("""{"to": "a@example.test", "text": "x", "attachments": [{"filename": "f", "content_base64": "@@@"}]}""", "base64")]
    [InlineData("""{"to": "a@example.test", "text": "x", "attachments": [{"content": "x"}]}""", "filename")]
    [InlineData("""{"to": "a@example.test", "text": "x", "attachments": ["https://example.test/f"]}""", "workflow file reference")]
    [InlineData("""{"to": "a@example.test", "text": "x", "attachments": [{"filename": "f"}]}""", "needs 'file'")]
    public async Task Execute_InvalidParameters_FailsNotRetryable(string parameters, string expected)
    {
        await using var server = new TinySmtpServer();

        ActivityFailureException failure = await FailAsync(server, Plain(server), parameters);

        Assert.Equal(ErrorCodes.InvalidParameters, failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
        Assert.Empty(server.Received);
    }

    private static SmtpSettings Plain(TinySmtpServer server) => new()
    {
        Host = "127.0.0.1",
        Port = server.Port,
        Tls = SmtpTlsMode.None,
        From = "default-sender@example.test",
        Timeout = TimeSpan.FromSeconds(10),
    };

    private static ActivityContext Context(string parameters) => TestContexts.For("email_send", TestContexts.Parse(parameters));

    private static Task<ActivityResult> RunAsync(TinySmtpServer server, SmtpSettings settings, string parameters)
    {
        _ = server;
        return new EmailSendActivity(settings).ExecuteAsync(Context(parameters), CancellationToken.None);
    }

    private static Task<ActivityFailureException> FailAsync(TinySmtpServer server, SmtpSettings settings, string parameters) =>
        Assert.ThrowsAsync<ActivityFailureException>(() => RunAsync(server, settings, parameters));

    private static byte[] Decode(MimePart part)
    {
        using var stream = new MemoryStream();
        part.Content!.DecodeTo(stream);
        return stream.ToArray();
    }
}
