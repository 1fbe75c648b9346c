using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;
using Spindle.Core.Templates;

namespace Spindle.Core.Tests.Orchestration;

/// <summary>Placeholders at enqueue, display form and structural record in storage, values only at hand-out.</summary>
public sealed class SecretParametersTests
{
    private static readonly Dictionary<string, string> Secrets = new() { ["db_url"] = "pg://s3cret", ["token"] = "t0k" };

    private static string Placeholder(SecretParameters secrets, string name) => secrets.Placeholders[name]!.GetValue<string>();

    [Fact]
    public void ExtractThenReveal_SecretsInsideLongerStrings_StoresDisplayFormAndRebuildsValues()
    {
        var secrets = new SecretParameters(Secrets);
        var parameters = new JsonObject
        {
            ["url"] = Placeholder(secrets, "db_url"),
            ["list"] = new JsonArray("plain", $"a {Placeholder(secrets, "db_url")} b {Placeholder(secrets, "token")}"),
            ["n"] = 3,
        };
        var record = secrets.Extract(parameters);

        Assert.Equal("""{"url":"{{SECRET.db_url}}","list":["plain","a {{SECRET.db_url}} b {{SECRET.token}}"],"n":3}""", parameters.ToJsonString());
        Assert.DoesNotContain("s3cret", record!.ToJsonString(), StringComparison.Ordinal);
        Assert.True(SecretParameters.TryReveal(parameters, record, Secrets, out var revealed, out _));
        Assert.Equal("""{"url":"pg://s3cret","list":["plain","a pg://s3cret b t0k"],"n":3}""", revealed.ToJsonString());
        Assert.Contains("{{SECRET.db_url}}", parameters.ToJsonString(), StringComparison.Ordinal); // the stored copy is untouched
    }

    [Fact]
    public void Extract_TextCarryingAnotherMachinesPlaceholder_StaysText()
    {
        var forged = Placeholder(new SecretParameters(Secrets), "db_url");
        var secrets = new SecretParameters(Secrets);
        var parameters = new JsonObject { ["echoed"] = forged, ["shown"] = "{{SECRET.db_url}}" };
        Assert.Null(secrets.Extract(parameters));
        Assert.Equal(forged, parameters["echoed"]!.GetValue<string>());
        Assert.True(SecretParameters.TryReveal(parameters, null, Secrets, out var revealed, out _));
        Assert.Equal("{{SECRET.db_url}}", revealed["shown"]!.GetValue<string>());
    }

    [Fact]
    public void Extract_PlaceholderTakenApartOrUsedAsKey_IsATemplateError()
    {
        var secrets = new SecretParameters(Secrets);
        var placeholder = Placeholder(secrets, "token");
        Assert.Throws<TemplateException>(() => secrets.Extract(new JsonObject { ["x"] = placeholder[..^1] }));
        Assert.Throws<TemplateException>(() => secrets.Extract(new JsonObject { ["x"] = placeholder.Replace('#', '-') }));
        Assert.Throws<TemplateException>(() => secrets.Extract(new JsonObject { ["x"] = placeholder[1..] + placeholder[..1] }));
        Assert.Throws<TemplateException>(() => secrets.Extract(new JsonObject { [placeholder] = 1 }));
    }

    [Fact]
    public void TryReveal_SecretNoLongerConfigured_ReportsItsName()
    {
        var secrets = new SecretParameters(Secrets);
        var parameters = new JsonObject { ["x"] = "k=" + Placeholder(secrets, "token") };
        var record = secrets.Extract(parameters);
        var fewer = new Dictionary<string, string> { ["db_url"] = "pg://s3cret" };
        Assert.False(SecretParameters.TryReveal(parameters, record, fewer, out _, out var missing));
        Assert.Equal("token", missing);
        Assert.Equal("token", SecretParameters.FindMissing(record, fewer));
        Assert.Null(SecretParameters.FindMissing(record, Secrets));
    }
}
