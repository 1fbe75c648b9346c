using Spindle.Core.Definitions;
using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

/// <summary>Deploy-time rules for child-workflow activities (docs/workflow-format.md#child-workflows): 422s naming the field.</summary>
public sealed class ChildWorkflowValidationTests
{
    private static string Child(string fields) => $"name: wf\nactivities:\n  - key: c\n{fields}";

    [Fact]
    public void Parse_WorkflowWithVersionAndInput_IsReadIntoTheDefinition()
    {
        var definition = Valid(Child("    workflow: per-customer\n    version: \"20260101.000000.000000\"\n    input: {id: \"{{INPUT.id}}\"}\n"));
        var child = definition.Activities[0].Workflow!;
        Assert.Equal("per-customer", child.Name);
        Assert.Equal("20260101.000000.000000", child.Version);
        Assert.Equal("{{INPUT.id}}", child.Input["id"]!.GetValue<string>());
    }

    [Fact]
    public void Parse_WorkflowWithoutInput_GetsAnEmptyInput() =>
        Assert.Empty(Valid(Child("    workflow: other\n")).Activities[0].Workflow!.Input.AsObject());

    [Fact]
    public void Parse_ChildWorkflowActivity_HasNoEmptyActivityNameWarning()
    {
        var result = DefinitionParser.Parse(Child("    workflow: other\n"));
        Assert.True(result.IsValid);
        Assert.DoesNotContain(result.Warnings, w => w.Contains("activity_name", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_WorkflowWithPriority_KeepsItForTheChild() =>
        Assert.Equal(9, Valid(Child("    workflow: other\n    priority: 9\n")).Activities[0].Queueing!.Priority);

    [Theory]
    [InlineData("    workflow: 5\n", "activities[0].workflow", "name of a deployed workflow definition")]
    [InlineData("    workflow: \"\"\n", "activities[0].workflow", "name of a deployed workflow definition")]
    [InlineData("    workflow: \"{{INPUT.name}}\"\n", "activities[0].workflow", "not a template")]
    [InlineData("    workflow: other\n    worker: std\n", "activities[0].worker", "does not apply to a child workflow")]
    [InlineData("    workflow: other\n    activity_name: echo\n", "activities[0].activity_name", "does not apply to a child workflow")]
    [InlineData("    workflow: other\n    parameters: {x: 1}\n", "activities[0].parameters", "does not apply to a child workflow")]
    [InlineData("    workflow: other\n    version: [1]\n", "activities[0].version", "'version' must be")]
    [InlineData("    workflow: other\n    input: [1, 2]\n", "activities[0].input", "'input' must be a mapping")]
    [InlineData("    workflow: other\n    input: plain text\n", "activities[0].input", "'input' must be a mapping")]
    [InlineData("    activity_name: echo\n    input: {x: 1}\n", "activities[0].input", "only applies to a child workflow")]
    [InlineData("    activity_name: echo\n    version: \"1\"\n", "activities[0].version", "only applies to a child workflow")]
    [InlineData("    workflow: other\n    concurrency: {key: a, limit: 1}\n", "activities[0].concurrency", "put it on the child definition")]
    [InlineData("    workflow: other\n    rate_limit: {key: a, per_second: 1}\n", "activities[0].rate_limit", "child definition's activities")]
    public void Parse_BadChildSettings_AreRefusedNamingTheField(string fields, string field, string fragment) =>
        Invalid(Child(fields), field, fragment);
}
