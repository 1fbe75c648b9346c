using Spindle.Core.Definitions;
using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

/// <summary>Deploy-time checks of map activities (for_each, max_parallel, continue_on_failure).</summary>
public class MapValidationTests
{
    [Theory]
    [InlineData("    for_each: 5\n", "activities[0].for_each", "template that yields a list")]
    [InlineData("    for_each: {a: 1}\n", "activities[0].for_each", "got a mapping")]
    [InlineData("    for_each: plain text\n", "activities[0].for_each", "plain string")]
    [InlineData("    for_each: \"{{INPUT.xs}}\"\n    max_parallel: 0\n", "activities[0].max_parallel", ">= 1")]
    [InlineData("    for_each: \"{{INPUT.xs}}\"\n    max_parallel: \"4\"\n", "activities[0].max_parallel", "without quotes")]
    [InlineData("    for_each: \"{{INPUT.xs}}\"\n    max_parallel: 20000\n", "activities[0].max_parallel", "at most 10000")]
    [InlineData("    for_each: \"{{INPUT.xs}}\"\n    continue_on_failure: \"yes\"\n", "activities[0].continue_on_failure", "true or false")]
    [InlineData("    max_parallel: 3\n", "activities[0].max_parallel", "only applies to a map")]
    [InlineData("    continue_on_failure: true\n", "activities[0].continue_on_failure", "only applies to a map")]
    public void Parse_BadMapField_IsRefusedNamingTheField(string lines, string field, string fragment) =>
        Invalid(One(lines), field, fragment);

    [Fact]
    public void Parse_SecretInForEach_IsRefused()
    {
        var result = DefinitionParser.Parse(One("    for_each: \"{{SECRET.list}}\"\n"));
        Assert.False(result.IsValid);
        Assert.Contains("activity.a.for_each", result.FieldErrors.Keys);
    }

    [Fact]
    public void Parse_MapFields_AreNormalisedAndRead()
    {
        var definition = Valid(One("    for_each: \"{{INPUT.xs}}\"\n    max_parallel: 4.0\n    continue_on_failure: true\n"));
        var map = definition.Activities[0].Map!;
        Assert.Equal("{{INPUT.xs}}", map.ForEach.GetValue<string>());
        Assert.Equal(4, map.MaxParallel);
        Assert.True(map.ContinueOnFailure);
        var normalized = definition.NormalizedJson["activities"]![0]!;
        Assert.Equal(4, normalized["max_parallel"]!.GetValue<long>());
        Assert.Equal("{{INPUT.xs}}", normalized["for_each"]!.GetValue<string>());
    }

    [Fact]
    public void Parse_LiteralListForEach_IsAMap()
    {
        var definition = Valid(One("    for_each: [a, \"{{INPUT.b}}\"]\n"));
        Assert.Equal(2, definition.Activities[0].Map!.ForEach.AsArray().Count);
        Assert.Null(definition.Activities[0].Map!.MaxParallel);
    }

    [Fact]
    public void Parse_NoForEach_IsNoMap() => Assert.Null(Valid(One("    parameters: {}\n")).Activities[0].Map);
}
