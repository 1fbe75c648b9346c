using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

/// <summary>Deploy-time rules for SECRET: printed as it is in parameters, nowhere the server would compute with it.</summary>
public sealed class SecretValidationTests
{
    [Theory]
    [InlineData("{{SECRET.db_url}}")]
    [InlineData("{{ SECRET['db_url'] }}")]
    [InlineData("postgres://{{INPUT.host}}/{{SECRET.db_url}}?t={{ SECRET.token }}")]
    [InlineData("{% if INPUT.tls %}{{ SECRET.cert }}{% endif %}")]
    [InlineData("{{ INPUT.secret_name }}")]
    public void Parse_SecretPrintedAsIs_IsValid(string template) =>
        Valid(One($"    parameters: {{x: \"{template}\"}}\n"));

    [Theory]
    [InlineData("{{ SECRET }}")]
    [InlineData("{{ SECRET | tojson }}")]
    [InlineData("{{ SECRET.items() }}")]
    [InlineData("{% for k in SECRET %}{{ k }}{% endfor %}")]
    [InlineData("{{ SECRET[INPUT.name] }}")]
    [InlineData("{{ SECRET.db_url | upper }}")]
    [InlineData("{{ SECRET.db_url[0:3] }}")]
    [InlineData("{{ SECRET.db_url == 'x' }}")]
    [InlineData("{{ SECRET.db_url ~ '!' }}")]
    [InlineData("{% set s = SECRET.db_url %}{{ s }}")]
    [InlineData("{% if SECRET.db_url %}yes{% endif %}")]
    [InlineData("{{ [SECRET.db_url] }}")]
    public void Parse_SecretComputedWith_IsRefusedNamingActivityAndField(string template) =>
        Invalid(One($"    parameters: {{nested: {{x: \"{template}\"}}}}\n"), "activity.a.parameters.nested.x", "SECRET");

    [Fact]
    public void Parse_SecretInCondition_IsRefused() =>
        Invalid("""
            name: wf
            activities:
              - {key: a, activity_name: echo}
              - key: b
                activity_name: echo
                depends_on: [{activity_key: a, conditions: ["{{ SECRET.flag == 'on' }}"]}]
            """, "activity.b.depends_on[a].conditions", "SECRET");

    [Theory]
    [InlineData("delay: \"{{ SECRET.wait }}\"", "activity.a.settings.delay")]
    [InlineData("scheduled_for: \"{{ SECRET.at }}\"", "activity.a.settings.scheduled_for")]
    [InlineData("cache: {enabled: true, key: \"{{ SECRET.db_url }}\"}", "activity.a.settings.cache_key")]
    public void Parse_SecretInServerEvaluatedSetting_IsRefused(string setting, string field) =>
        Invalid(One($"    settings: {{{setting}}}\n"), field, "SECRET");
}
