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
}
