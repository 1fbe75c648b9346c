using System.Text.Json.Nodes;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Core.Templates;
using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

/// <summary>The workflow-level <c>concurrency</c> (docs/workflow-format.md#workflow-level-concurrency): read, normalised,
/// refused with the field named, and its key rendered at submit.</summary>
public sealed class RunConcurrencyValidationTests
{
    private static string Top(string concurrency) =>
        $"name: wf\n{concurrency}activities:\n  - {{key: a, activity_name: echo}}\n";

    [Fact]
    public void Parse_TopLevelConcurrency_IsNormalisedReadAndSurvivesTheStoredForm()
    {
        var def = Valid(Top("concurrency: {key: \"{{INPUT.customer_id}}\", limit: 2.0}\n"));
        Assert.Equal(new ConcurrencyLimit("{{INPUT.customer_id}}", 2), def.Concurrency);
        Assert.Equal(2L, def.NormalizedJson["concurrency"]!["limit"]!.GetValue<long>());
        var stored = DefinitionParser.FromNormalized(def.NormalizedJson);
        Assert.Equal(def.Concurrency, stored.Concurrency);
        Assert.Equal(def.ContentHash, stored.ContentHash);
        Assert.Null(Valid(Top("")).Concurrency);
        Assert.NotEqual(Valid(Top("")).ContentHash, def.ContentHash); // a new limit is a new version
    }

    [Theory]
    [InlineData("concurrency: 2\n", "concurrency", "must be a mapping")]
    [InlineData("concurrency: {limit: 2}\n", "concurrency.key", "'key' is required")]
    [InlineData("concurrency: {key: \"\", limit: 2}\n", "concurrency.key", "non-empty string")]
    [InlineData("concurrency: {key: a}\n", "concurrency.limit", "'limit' is required")]
    [InlineData("concurrency: {key: a, limit: 0}\n", "concurrency.limit", ">= 1")]
    [InlineData("concurrency: {key: a, limit: 100001}\n", "concurrency.limit", "at most 100000")]
    [InlineData("concurrency: {key: a, limit: 1, per_second: 3}\n", "concurrency.per_second", "give only key and limit")]
    public void Parse_BadTopLevelConcurrency_NamesTheField(string lines, string field, string fragment) =>
        Invalid(Top(lines), field, fragment);

    [Fact]
    public void RunConcurrencyKey_RendersFromTheInputOrThrows()
    {
        var def = Valid(Top("concurrency: {key: \"{{INPUT.customer}}-{{WORKFLOW.name}}\", limit: 1}\n"));
        Assert.Equal("acme-wf", WorkflowMachine.RunConcurrencyKey(def, "v1", "id1", new JsonObject { ["customer"] = "acme" }, TemplateLimits.Default));
        Assert.Null(WorkflowMachine.RunConcurrencyKey(Valid(Top("")), "v1", "id1", [], TemplateLimits.Default));
        Assert.Throws<TemplateException>(() => WorkflowMachine.RunConcurrencyKey(def, "v1", "id1", [], TemplateLimits.Default));
        var empty = Valid(Top("concurrency: {key: \"{{INPUT.customer}}\", limit: 1}\n"));
        var ex = Assert.Throws<TemplateException>(() =>
            WorkflowMachine.RunConcurrencyKey(empty, "v1", "id1", new JsonObject { ["customer"] = "" }, TemplateLimits.Default));
        Assert.Contains("1 to 500", ex.Message, StringComparison.Ordinal);
    }
}
