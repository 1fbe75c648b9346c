using Spindle.Core.Definitions;
using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

/// <summary>One or more tests per row of docs/workflow-format.md's table, asserting the field keys.</summary>
public class ValidationTests
{
    // ---- check 1: wrong types and values

    [Theory]
    [InlineData("    settings: {timeout_seconds: \"30\"}\n", "activities[0].settings.timeout_seconds", "without quotes")]
    [InlineData("    settings: {timeout_seconds: \"x\"}\n", "activities[0].settings.timeout_seconds", "whole number >= 1")]
    [InlineData("    settings: {timeout_seconds: 1.5}\n", "activities[0].settings.timeout_seconds", "fractions are not allowed")]
    [InlineData("    settings: {timeout_seconds: 0}\n", "activities[0].settings.timeout_seconds", "whole number >= 1")]
    [InlineData("    settings: {timeout_seconds: 99999999999}\n", "activities[0].settings.timeout_seconds", "at most 2147483647")]
    [InlineData("    settings: {memory_mb: 0}\n", "activities[0].settings.memory_mb", "whole number >= 1")]
    [InlineData("    settings: {timeout_seconds: true}\n", "activities[0].settings.timeout_seconds", "got the boolean true")]
    [InlineData("    parameters: [1, 2]\n", "activities[0].parameters", "must be a mapping")]
    [InlineData("    parameters: text\n", "activities[0].parameters", "must be a mapping")]
    [InlineData("    settings: {retry: {strategy: linear}}\n", "activities[0].settings.retry.strategy", "exponential, fixed")]
    [InlineData("    settings: {retry: {max_attempts: 0}}\n", "activities[0].settings.retry.max_attempts", ">= 1")]
    [InlineData("    settings: {retry: {base_seconds: -1}}\n", "activities[0].settings.retry.base_seconds", ">= 0")]
    [InlineData("    settings: {retry: {base_seconds: \"2\"}}\n", "activities[0].settings.retry.base_seconds", "without quotes")]
    [InlineData("    settings: {retry: {factor: 0.5}}\n", "activities[0].settings.retry.factor", ">= 1")]
    [InlineData("    settings: {retry: {max_seconds: x}}\n", "activities[0].settings.retry.max_seconds", "number >= 0")]
    [InlineData("    settings: {retry: 3}\n", "activities[0].settings.retry", "must be a mapping")]
    [InlineData("    settings: {budget: {limit: 1, action: stop}}\n", "activities[0].settings.budget.action", "abort, continue")]
    [InlineData("    settings: {budget: {action: abort}}\n", "activities[0].settings.budget.limit", "required")]
    [InlineData("    settings: {budget: {limit: -0.5}}\n", "activities[0].settings.budget.limit", ">= 0")]
    [InlineData("    settings: {budget: {limit: cheap}}\n", "activities[0].settings.budget.limit", "decimal amount")]
    [InlineData("    settings: {budget: {limit: 1e30}}\n", "activities[0].settings.budget.limit", "too large for a USD amount")]
    [InlineData("    settings: {budget: {limit: 1, limit_usd: 2}}\n", "activities[0].settings.budget.limit", "differ")]
    [InlineData("    outputs: [{name: r, type: blob}]\n", "activities[0].outputs[0].type", "value, file, folder")]
    [InlineData("    outputs: [{type: file}]\n", "activities[0].outputs[0].name", "non-empty string 'name'")]
    [InlineData("    outputs: [5]\n", "activities[0].outputs[0]", "name (string)")]
    [InlineData("    outputs: result\n", "activities[0].outputs", "must be a list")]
    [InlineData("    iteration_limit: 0\n", "activities[0].iteration_limit", ">= 1")]
    [InlineData("    iteration_scoped: \"yes\"\n", "activities[0].iteration_scoped", "true or false")]
    [InlineData("    streaming: 1\n", "activities[0].streaming", "true/false")]
    [InlineData("    settings: {iteration_limit: \"5\"}\n", "activities[0].settings.iteration_limit", "without quotes")]
    [InlineData("    settings: {cache: 1}\n", "activities[0].settings.cache", "true/false or a mapping")]
    [InlineData("    settings: {cache: {ttl_seconds: 0}}\n", "activities[0].settings.cache.ttl_seconds", ">= 1")]
    [InlineData("    settings: {cache: {key: 5}}\n", "activities[0].settings.cache.key", "string template or a list")]
    [InlineData("    settings: {cache_ttl: 1.5}\n", "activities[0].settings.cache_ttl", "fractions")]
    [InlineData("    settings: {delay: 30}\n", "activities[0].settings.delay", "must be a string")]
    [InlineData("    settings: {wait_for_signal: {event_name: go, timeout_seconds: \"10\"}}\n", "activities[0].settings.wait_for_signal.timeout_seconds", "without quotes")]
    [InlineData("    settings: {wait_for_signal: [go]}\n", "activities[0].settings.wait_for_signal", "event name (string)")]
    [InlineData("    settings: [timeout_seconds]\n", "activities[0].settings", "must be a mapping")]
    [InlineData("    depends_on: b\n", "activities[0].depends_on", "must be a list")]
    [InlineData("    depends_on: [{conditions: x}]\n", "activities[0].depends_on[0].activity_key", "required")]
    [InlineData("    depends_on: [5]\n", "activities[0].depends_on[0]", "activity key (string)")]
    public void Parse_WrongTypeOrValue_ReportsFieldPath(string lines, string field, string fragment)
    {
        Invalid(One(lines), field, fragment);
    }

    [Theory]
    [InlineData("settings: {timeout: 0}\n", "settings.timeout")]
    [InlineData("settings: {timeout: \"60\"}\n", "settings.timeout")]
    [InlineData("settings: {max_retries: -1}\n", "settings.max_retries")]
    [InlineData("settings: {budget: {limit: x}}\n", "settings.budget.limit")]
    [InlineData("settings: {budget: {action: later}}\n", "settings.budget.action")]
    [InlineData("settings: 5\n", "settings")]
    public void Parse_WorkflowSettingsWrongType_ReportsFieldPath(string line, string field)
    {
        var result = DefinitionParser.Parse("name: wf\n" + line + "activities: [{key: a, activity_name: echo}]\n");
        Assert.False(result.IsValid);
        Assert.True(result.FieldErrors.ContainsKey(field), string.Join(",", result.FieldErrors.Keys));
    }

    [Fact]
    public void Parse_NonStringActivityName_ReportsActivityName()
    {
        Invalid("name: wf\nactivities: [{key: a, activity_name: 5}]\n", "activities[0].activity_name", "must be a string");
    }

    [Fact]
    public void Parse_IntegralFloatForInteger_IsAccepted()
    {
        var def = Valid(One("    settings: {timeout_seconds: 30.0, retry: {max_attempts: 3.0, base_seconds: 1.0}}\n"));
        Assert.Equal(30, def.Activities[0].Settings.TimeoutSeconds);
        Assert.Equal(3, def.Activities[0].Settings.Retry!.MaxAttempts);
        Assert.Equal(30L, def.NormalizedJson["activities"]![0]!["settings"]!["timeout_seconds"]!.GetValue<long>());
    }

    [Fact]
    public void Parse_FractionalRetrySeconds_AreAccepted()
    {
        var def = Valid(One("    settings: {retry: {max_attempts: 2, base_seconds: 0.5, factor: 1.5, max_seconds: 2.5}}\n"));
        Assert.Equal(new RetryPolicy(2, "exponential", 0.5, 1.5, 2.5), def.Activities[0].Settings.Retry);
    }

    [Fact]
    public void Parse_SeveralProblems_AreAllCollected()
    {
        var result = DefinitionParser.Parse("""
            name: "bad name"
            activities:
              - key: a
                worker: ""
                settings: {timeout_seconds: "30"}
              - key: a
                depends_on: [ghost]
            """);
        Assert.Equal(
            ["name", "activities[0].worker", "activities[0].settings.timeout_seconds", "activities[1].key", "activity.a.depends_on"],
            result.FieldErrors.Keys.ToArray());
    }

    // ---- check 2: name

    [Theory]
    [InlineData("activities: [{key: a}]\n", "required")]
    [InlineData("name: \"\"\nactivities: [{key: a}]\n", "must not be empty")]
    [InlineData("name:\nactivities: [{key: a}]\n", "must not be empty")]
    [InlineData("name: order flow\nactivities: [{key: a}]\n", "identifier")]
    [InlineData("name: a.b\nactivities: [{key: a}]\n", "identifier")]
    [InlineData("name: 42\nactivities: [{key: a}]\n", "must be a string")]
    public void Parse_BadName_ReportsName(string text, string fragment)
    {
        Invalid(text, "name", fragment);
    }

    [Fact]
    public void Parse_NameLengthLimit_Is255()
    {
        Valid($"name: {new string('n', 255)}\nactivities: [{{key: a, activity_name: echo}}]\n");
        Invalid($"name: {new string('n', 256)}\nactivities: [{{key: a}}]\n", "name", "at most 255");
    }

    // ---- check 3: activities

    [Theory]
    [InlineData("name: wf\n", "required")]
    [InlineData("name: wf\nactivities: []\n", "at least one")]
    [InlineData("name: wf\nactivities:\n", "required")]
    [InlineData("name: wf\nactivities: {a: {activity_name: echo}}\n", "not a mapping keyed by name")]
    [InlineData("name: wf\nactivities: 3\n", "must be a list")]
    public void Parse_MissingOrEmptyActivities_ReportsActivities(string text, string fragment)
    {
        Invalid(text, "activities", fragment);
    }

    [Fact]
    public void Parse_ActivityNotAMapping_ReportsItemPath()
    {
        Invalid("name: wf\nactivities: [a]\n", "activities[0]", "must be a mapping");
    }

    // ---- check 4: keys

    [Theory]
    [InlineData("  - activity_name: echo\n", "required")]
    [InlineData("  - key: \"\"\n", "must not be empty")]
    [InlineData("  - key: \"a b\"\n", "not an identifier")]
    [InlineData("  - key: a.b\n", "not an identifier")]
    [InlineData("  - key: 7\n", "must be a string")]
    public void Parse_BadActivityKey_ReportsKeyPath(string activity, string fragment)
    {
        Invalid("name: wf\nactivities:\n  - key: ok\n" + activity, "activities[1].key", fragment);
    }

    [Fact]
    public void Parse_DuplicateKey_ReportsLaterIndex()
    {
        var result = Invalid("name: wf\nactivities: [{key: a}, {key: b}, {key: a}]\n", "activities[2].key", "Duplicate activity key \"a\"");
        Assert.False(result.FieldErrors.ContainsKey("activities[0].key"));
    }

    [Fact]
    public void Parse_KeyWithDash_IsValid()
    {
        Assert.Equal("fetch-data", Valid("name: wf\nactivities: [{key: fetch-data, activity_name: echo}]\n").Activities[0].Key);
    }

    // ---- check 5: worker

    [Fact]
    public void Parse_EmptyWorker_ReportsWorker()
    {
        Invalid(One("    worker: \"\"\n"), "activities[0].worker", "must not be empty");
    }

    [Fact]
    public void Parse_NonStringWorker_ReportsWorker()
    {
        Invalid(One("    worker: [std]\n"), "activities[0].worker", "must be a string");
    }

    // ---- check 6: settings semantics

    [Theory]
    [InlineData("    settings: {delay: 5m, scheduled_for: \"2026-03-01T00:00:00Z\"}\n", "cannot be combined")]
    [InlineData("    settings: {delay: 5 minutes}\n", "Invalid delay \"5 minutes\"")]
    [InlineData("    settings: {delay: 5M}\n", "Invalid delay")]
    [InlineData("    settings: {scheduled_for: \"2026-03-01T00:00:00\"}\n", "with an offset")]
    [InlineData("    settings: {scheduled_for: tomorrow}\n", "Invalid scheduled_for")]
    [InlineData("    settings: {wait_for_signal: {timeout_seconds: 10}}\n", "requires a non-empty 'event_name'")]
    [InlineData("    settings: {wait_for_signal: {event_name: \"\"}}\n", "requires a non-empty 'event_name'")]
    [InlineData("    settings: {wait_for_signal: \"\"}\n", "non-empty event name")]
    [InlineData("    settings: {wait_for_signal: {event_name: go, on_timeout: retry}}\n", "continue, skip, fail")]
    [InlineData("    settings: {cache: {ttl: 60, ttl_seconds: 61}}\n", "Conflicting cache TTLs")]
    [InlineData("    settings: {cache: {ttl_seconds: 60}, cache_ttl: 30}\n", "Conflicting cache TTLs")]
    [InlineData("    settings: {cache: {key: a}, cache_key: b}\n", "Conflicting cache keys")]
    public void Parse_SettingsProblem_ReportsActivitySettings(string lines, string fragment)
    {
        Invalid(One(lines), "activity.a.settings", fragment);
    }

    [Theory]
    [InlineData("{{INPUT.delay}}")]
    [InlineData("{% if x %}1s{% endif %}")]
    public void Parse_TemplatedDelay_IsNotChecked(string delay)
    {
        var def = Valid(One($"    settings: {{delay: \"{delay}\"}}\n"));
        Assert.Equal(delay, def.Activities[0].Settings.Delay);
    }

    [Fact]
    public void Parse_TemplatedScheduledFor_IsNotChecked()
    {
        Valid(One("    settings: {scheduled_for: \"{{INPUT.at}}\"}\n"));
    }

    [Fact]
    public void Parse_SettingsProblemWithoutUsableKey_UsesIndexPrefix()
    {
        Invalid("name: wf\nactivities:\n  - settings: {delay: soon}\n", "activities[0].settings", "Invalid delay");
    }

    // ---- check 7: conditions

    [Fact]
    public void Parse_BothConditionAndConditions_ReportsDependsOn()
    {
        Invalid("""
            name: wf
            activities:
              - {key: a}
              - key: b
                depends_on: [{activity_key: a, condition: "{{a.ok}}", conditions: ["{{a.ok}}"]}]
            """, "activity.b.depends_on", "both 'condition' and 'conditions'");
    }

    [Theory]
    [InlineData("condition: true")]
    [InlineData("conditions: [\"{{a.ok}}\", 3]")]
    [InlineData("conditions: {x: 1}")]
    public void Parse_NonStringCondition_ReportsDependsOn(string condition)
    {
        Invalid($"name: wf\nactivities:\n  - {{key: a}}\n  - {{key: b, depends_on: [{{activity_key: a, {condition}}}]}}\n",
            "activity.b.depends_on", "must be a string template");
    }

    [Fact]
    public void Parse_BadConditionInDependencyOf_ReportsDependencyOf()
    {
        Invalid("name: wf\nactivities:\n  - {key: a, dependency_of: [{activity_key: b, condition: 1}]}\n  - {key: b}\n",
            "activity.a.dependency_of", "must be a string template");
    }

    // ---- checks 8 and 9: references

    [Fact]
    public void Parse_UnknownDependsOn_ReportsReferencedActivityNotFound()
    {
        var result = Invalid("name: wf\nactivities:\n  - {key: a, depends_on: [fetch, {activity_key: other}]}\n",
            "activity.a.depends_on", "Referenced activity not found: fetch");
        Assert.Equal(["Referenced activity not found: fetch", "Referenced activity not found: other"],
            result.FieldErrors["activity.a.depends_on"]);
    }

    [Fact]
    public void Parse_UnknownDependencyOf_ReportsReferencedActivityNotFound()
    {
        var result = Invalid("name: wf\nactivities:\n  - {key: a, dependency_of: [ghost]}\n",
            "activity.a.dependency_of", "Referenced activity not found: ghost");
        Assert.False(result.FieldErrors.ContainsKey("activity.a.depends_on"));
    }

    // ---- check 10 runs only after 0-9

    [Fact]
    public void Parse_InvalidCycleAndOtherError_ReportsOnlyTheOtherError()
    {
        var result = DefinitionParser.Parse("""
            name: wf
            activities:
              - {key: a, depends_on: [b], settings: {timeout_seconds: 0}}
              - {key: b, depends_on: [a]}
            """);
        Assert.Equal(["activities[0].settings.timeout_seconds"], result.FieldErrors.Keys);
    }

    // ---- warnings

    [Fact]
    public void Parse_UnknownKeys_AreWarnedAndDropped()
    {
        var result = DefinitionParser.Parse("""
            name: wf
            description: accepted and ignored
            version: 3
            settings: {timeout: 60, colour: red}
            activities:
              - key: a
                activity_name: echo
                owner: me
                depends_on: []
                settings: {timeout_seconds: 5, priority: high, retry: {max_attempts: 2, jitter: true}}
            """);
        Assert.True(result.IsValid);
        Assert.Equal(
        [
            "Unknown key ignored: version",
            "Unknown key ignored: settings.colour",
            "Unknown key ignored: activities[0].owner",
            "Unknown key ignored: activities[0].settings.priority",
            "Unknown key ignored: activities[0].settings.retry.jitter",
        ], result.Warnings);
        var json = result.Definition!.NormalizedJson.ToJsonString();
        Assert.DoesNotContain("colour", json, StringComparison.Ordinal);
        Assert.DoesNotContain("owner", json, StringComparison.Ordinal);
        Assert.DoesNotContain("priority", json, StringComparison.Ordinal);
        Assert.DoesNotContain("jitter", json, StringComparison.Ordinal);
        Assert.DoesNotContain("description", json, StringComparison.Ordinal);
        Assert.DoesNotContain("version", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("name: wf\nactivities: [{key: a}]\n")]
    [InlineData("name: wf\nactivities: [{key: a, activity_name: \"\"}]\n")]
    public void Parse_EmptyActivityName_IsWarning(string text)
    {
        var result = DefinitionParser.Parse(text);
        Assert.True(result.IsValid);
        Assert.Contains(result.Warnings, w => w.Contains("Activity 'a' has an empty activity_name", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("INPUT")]
    [InlineData("SECRET")]
    [InlineData("WORKFLOW")]
    [InlineData("ACTIVITY")]
    [InlineData("SIGNAL")]
    [InlineData("ACTIVITIES")]
    [InlineData("FILE")]
    [InlineData("FOLDER")]
    [InlineData("parameters")]
    public void Parse_KeySpelledLikeNamespace_IsWarning(string key)
    {
        var result = DefinitionParser.Parse($"name: wf\nactivities: [{{key: {key}, activity_name: echo}}]\n");
        Assert.True(result.IsValid);
        Assert.Contains(result.Warnings, w => w.Contains($"Activity key '{key}'", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_KeyInOtherCaseThanNamespace_IsNotWarned()
    {
        var result = DefinitionParser.Parse("name: wf\nactivities: [{key: input, activity_name: echo}]\n");
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void Parse_CleanDefinition_HasNoWarnings()
    {
        var result = DefinitionParser.Parse("name: wf\nactivities: [{key: a, activity_name: echo, parameters: {}}]\n");
        Assert.True(result.IsValid);
        Assert.Empty(result.Warnings);
        Assert.Empty(result.FieldErrors);
    }

    [Fact]
    public void Parse_InvalidDefinition_StillReturnsWarnings()
    {
        var result = DefinitionParser.Parse("name: wf\nfoo: 1\nactivities: [{key: a, settings: {timeout_seconds: x}}]\n");
        Assert.False(result.IsValid);
        Assert.Contains("Unknown key ignored: foo", result.Warnings);
    }
}
