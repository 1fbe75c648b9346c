using Spindle.Core.Definitions;

namespace Spindle.Core.Tests.Definitions;

internal static class DefinitionTestHelpers
{
    public static WorkflowDefinition Valid(string text)
    {
        var result = DefinitionParser.Parse(text);
        Assert.True(result.IsValid, "expected a valid definition, got: " + string.Join("; ",
            result.FieldErrors.Select(kv => kv.Key + " => " + string.Join(" | ", kv.Value))));
        return result.Definition!;
    }

    /// <summary>Asserts the definition is rejected with a message under <paramref name="field"/> containing <paramref name="fragment"/>.</summary>
    public static DefinitionParseResult Invalid(string text, string field, string fragment)
    {
        var result = DefinitionParser.Parse(text);
        Assert.False(result.IsValid);
        Assert.Null(result.Definition);
        Assert.True(result.FieldErrors.ContainsKey(field), $"expected field '{field}', got: " + string.Join("; ",
            result.FieldErrors.Select(kv => kv.Key + " => " + string.Join(" | ", kv.Value))));
        Assert.Contains(result.FieldErrors[field], m => m.Contains(fragment, StringComparison.Ordinal));
        return result;
    }

    /// <summary>One-activity workflow with the given extra activity YAML lines (indented by 4).</summary>
    public static string One(string activityLines) =>
        "name: wf\nactivities:\n  - key: a\n    activity_name: echo\n" + activityLines;
}
