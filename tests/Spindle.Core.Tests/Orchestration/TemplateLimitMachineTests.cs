using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;
using Spindle.Core.Templates;

namespace Spindle.Core.Tests.Orchestration;

/// <summary>Every place the engine evaluates templates runs under <see cref="EngineDefaults.TemplateLimits"/>; a
/// breach fails the activity with TEMPLATE_LIMIT_EXCEEDED like any other template error.</summary>
public sealed class TemplateLimitMachineTests
{
    private const string BillionLoop = "{% for i in range(1000000000) %}x{% endfor %}";

    [Fact]
    public void Enqueue_ParameterLoopBeyondStepLimit_FailsActivityNamingLimitAndPlace()
    {
        var h = new MachineHarness("""
            name: runaway
            activities:
              - {key: bad, activity_name: echo, parameters: {opts: {text: "BILLION_LOOP"}}}
              - {key: good, activity_name: echo, parameters: {text: "{{ INPUT.name }}"}}
            """.Replace("BILLION_LOOP", BillionLoop, StringComparison.Ordinal), new JsonObject { ["name"] = "ok" });

        Assert.Equal(ActivityStatus.Failed, h["bad"].Status);
        Assert.Equal(EngineErrorCodes.TemplateLimitExceeded, h["bad"].ErrorCode);
        Assert.StartsWith("activity 'bad', parameters.opts.text: template limit exceeded", h["bad"].ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("more than 100000 steps", h["bad"].ErrorMessage, StringComparison.Ordinal);
        var failed = Assert.Single(h.Events, e => e.EventType == EventTypes.ActivityFailed);
        Assert.Equal("TEMPLATE_LIMIT_EXCEEDED", failed.Payload["error_code"]!.GetValue<string>());
        Assert.Equal(h["bad"].ErrorMessage, failed.Payload["error_message"]!.GetValue<string>());

        // The other root is scheduled normally.
        Assert.Equal(ActivityStatus.Pending, h["good"].Status);
        Assert.Equal("ok", h["good"].Parameters!["text"]!.GetValue<string>());
    }

    [Fact]
    public void Enqueue_HugeStringParameter_FailsWithSizeLimit()
    {
        var h = new MachineHarness("""
            name: huge
            activities:
              - {key: a, activity_name: echo, parameters: {text: "{{ 'x' * 100000000 }}"}}
            """);

        Assert.Equal(EngineErrorCodes.TemplateLimitExceeded, h["a"].ErrorCode);
        Assert.Contains("parameters.text", h["a"].ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("size limit of 1048576", h["a"].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(WorkflowStatus.Failed, h.Status);
    }

    [Theory]
    [InlineData("delay", "settings.delay")]
    [InlineData("scheduled_for", "settings.scheduled_for")]
    public void Enqueue_ScheduleTemplateBeyondLimit_FailsNamingSetting(string setting, string field)
    {
        var h = new MachineHarness($"name: slow_delay\nactivities:\n  - {{key: a, activity_name: echo, settings: {{{setting}: \"{BillionLoop}\"}}}}\n");

        Assert.Equal(EngineErrorCodes.TemplateLimitExceeded, h["a"].ErrorCode);
        Assert.Contains($"activity 'a', {field}:", h["a"].ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Enqueue_CacheKeyBeyondLimit_FailsNamingCacheKey()
    {
        var h = new MachineHarness("""
            name: cache
            activities:
              - {key: a, activity_name: echo, settings: {cache: true, cache_key: "{{ 'k' * 100000000 }}"}}
            """);

        Assert.Equal(EngineErrorCodes.TemplateLimitExceeded, h["a"].ErrorCode);
        Assert.Contains("settings.cache_key", h["a"].ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Advance_ConditionBeyondLimit_FailsDependent()
    {
        var h = new MachineHarness("""
            name: cond
            activities:
              - {key: a, activity_name: echo}
              - key: b
                activity_name: echo
                depends_on: [{activity_key: a, conditions: ["{{ range(1000000000) | length > 0 }}"]}]
            """);
        h.Complete("a");

        Assert.Equal(ActivityStatus.Failed, h["b"].Status);
        Assert.Equal(EngineErrorCodes.TemplateLimitExceeded, h["b"].ErrorCode);
        Assert.StartsWith("activity 'b', depends_on[a].conditions: template limit exceeded", h["b"].ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void FireBackEdges_LoopConditionBeyondLimit_FailsHead()
    {
        var h = new MachineHarness("""
            name: loop
            activities:
              - {key: init, activity_name: echo}
              - key: step
                activity_name: echo
                iteration_scoped: true
                depends_on:
                  - init
                  - {activity_key: check, condition: "{% for i in range(1000000000) %}{% endfor %}true"}
              - {key: check, activity_name: echo, depends_on: [step], iteration_scoped: true}
            """);
        h.Complete("init");
        h.Complete("step");
        h.Complete("check");

        Assert.Equal(ActivityStatus.Failed, h["step"].Status);
        Assert.Equal(EngineErrorCodes.TemplateLimitExceeded, h["step"].ErrorCode);
        Assert.StartsWith("activity 'step', depends_on[check].conditions: template limit exceeded", h["step"].ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Enqueue_ConfiguredLimits_AreUsed()
    {
        var defaults = new EngineDefaults { TemplateLimits = new TemplateLimits { MaxSteps = 50 } };
        var h = new MachineHarness("""
            name: tight
            activities:
              - {key: a, activity_name: echo, parameters: {text: "{% for i in range(100) %}{% endfor %}"}}
            """, defaults: defaults);

        Assert.Equal(EngineErrorCodes.TemplateLimitExceeded, h["a"].ErrorCode);
        Assert.Contains("more than 50 steps", h["a"].ErrorMessage, StringComparison.Ordinal);
    }
}
