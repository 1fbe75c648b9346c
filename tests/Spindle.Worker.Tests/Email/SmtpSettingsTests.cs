using Spindle.Worker.Std.Email;

namespace Spindle.Worker.Tests.Email;

public sealed class SmtpSettingsTests
{
    [Fact]
    public void FromEnvironment_AllVariables_AreRead()
    {
        var env = new Dictionary<string, string>
        {
            ["SPINDLE_SMTP_HOST"] = "smtp.example.test",
            ["SPINDLE_SMTP_PORT"] = "2525",
            ["SPINDLE_SMTP_USERNAME"] = "user",
            ["SPINDLE_SMTP_PASSWORD"] = " pass with spaces ",
            ["SPINDLE_SMTP_TLS"] = "SSL",
            ["SPINDLE_SMTP_FROM"] = "Spindle <noreply@example.test>",
        };

        SmtpSettings settings = SmtpSettings.FromEnvironment(name => env.GetValueOrDefault(name));

        Assert.Equal("smtp.example.test", settings.Host);
        Assert.Equal(2525, settings.EffectivePort);
        Assert.Equal("user", settings.Username);
        Assert.Equal(" pass with spaces ", settings.Password);
        Assert.Equal(SmtpTlsMode.Ssl, settings.Tls);
        Assert.Equal("Spindle <noreply@example.test>", settings.From);
    }

    [Theory]
    [InlineData("none", 25)]
    [InlineData("starttls", 587)]
    [InlineData("ssl", 465)]
    public void EffectivePort_NoPort_DependsOnTls(string tls, int port)
    {
        Assert.Equal(port, new SmtpSettings { Tls = SmtpSettings.ParseTls(tls) }.EffectivePort);
    }

    [Fact]
    public void FromEnvironment_Defaults_StartTlsWithoutHost()
    {
        SmtpSettings settings = SmtpSettings.FromEnvironment(_ => null);

        Assert.Null(settings.Host);
        Assert.Equal(SmtpTlsMode.StartTls, settings.Tls);
    }

    [Theory]
    [InlineData("SPINDLE_SMTP_PORT", "70000")]
    [InlineData("SPINDLE_SMTP_TLS", "maybe")]
    public void FromEnvironment_InvalidValue_Throws(string name, string value)
    {
        Assert.Throws<FormatException>(() => SmtpSettings.FromEnvironment(n => n == name ? value : null));
    }

    [Theory]
    [InlineData("postgres://wf-1/step/report.pdf", "wf-1", "step", "report.pdf")]
    [InlineData("postgres://wf-1/step/dir/a%20b.txt", "wf-1", "step", "dir/a b.txt")]
    public void WorkflowFileReference_TryParse_Valid(string text, string workflow, string key, string name)
    {
        Assert.True(WorkflowFileReference.TryParse(text, out WorkflowFileReference? reference));
        Assert.Equal(new WorkflowFileReference(workflow, key, name), reference);
    }

    [Theory]
    [InlineData("https://x/y/z")]
    [InlineData("postgres://wf/only-key")]
    [InlineData("postgres:///k/f")]
    [InlineData(null)]
    public void WorkflowFileReference_TryParse_Invalid(string? text)
    {
        Assert.False(WorkflowFileReference.TryParse(text, out _));
    }

    [Theory]
    [InlineData("smtp://mail.example.test:2525", "mail.example.test", 2525, SmtpTlsMode.StartTlsWhenAvailable, null)]
    [InlineData("smtp://u%40x:p%3Aw@mail.example.test:587?tls=required", "mail.example.test", 587, SmtpTlsMode.StartTls, "u@x")]
    [InlineData("smtp://mail.example.test?tls=none", "mail.example.test", 25, SmtpTlsMode.None, null)]
    [InlineData("smtps://u:p@mail.example.test", "mail.example.test", 465, SmtpTlsMode.Ssl, "u")]
    public void FromUrl_ReferenceForms_ReadHostPortTlsAndUser(string url, string host, int port, SmtpTlsMode tls, string? user)
    {
        SmtpSettings settings = SmtpSettings.FromUrl(url, new SmtpSettings { From = "default@example.test" });
        Assert.Equal(host, settings.Host);
        Assert.Equal(port, settings.EffectivePort);
        Assert.Equal(tls, settings.Tls);
        Assert.Equal(user, settings.Username);
        Assert.Equal("default@example.test", settings.From);
    }

    [Theory]
    [InlineData("http://mail.example.test")]
    [InlineData("smtp://u:secret@mail.example.test?tls=maybe")]
    public void FromUrl_Unreadable_FormatExceptionWithoutPassword(string url)
    {
        FormatException error = Assert.Throws<FormatException>(() => SmtpSettings.FromUrl(url, new SmtpSettings()));
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }
}
