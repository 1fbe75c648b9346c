using Spindle.Core.Definitions;

namespace Spindle.Core.Tests.Definitions;

public sealed class TemplateSyntaxWarningTests
{
    [Fact]
    public void Parse_TemplateSyntaxErrors_DeploysWithWarningsNamingTheField()
    {
        var result = DefinitionParser.Parse("""
            name: warn
            activities:
              - {key: a, activity_name: echo, parameters: {x: "{{ INPUT.a && INPUT.b }}", ok: "{{ INPUT.a }}"}}
              - key: b
                activity_name: echo
                depends_on: [{activity_key: a, condition: "{{ a.status == }}"}]
            """);
        Assert.True(result.IsValid);
        Assert.Contains(result.Warnings, w => w.StartsWith("activity.a.parameters.x:", StringComparison.Ordinal));
        Assert.Contains(result.Warnings, w => w.StartsWith("activity.b.depends_on[a].conditions:", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Warnings, w => w.Contains("parameters.ok", StringComparison.Ordinal));
    }
}
