using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Orchestration;

namespace Spindle.Core.Tests.Orchestration;

/// <summary>Budgets before enqueue and retry (docs/workflow-format.md, Budgets), cost lines and the result-cache hooks of the machine.</summary>
public sealed class BudgetAndCacheMachineTests
{
    // At shipped catalog prices, 1,000 input + 100 output tokens: gpt-4o $0.0035, gpt-4o-mini $0.00021.
    private static string Llm(string budget, string models = "[openai/gpt-4o, openai/gpt-4o-mini]", string extra = "") => $$"""
        name: llm
        activities:
          - key: ask
            worker: std
            activity_name: llm_prompt
            parameters: {models: {{models}}, prompt: hi, max_tokens: 100}
            settings: {budget: {{budget}}, retry: {max_attempts: 3, strategy: fixed, base_seconds: 0}{{extra}}}
        """;

    [Fact]
    public void Enqueue_AbortBudgetBelowCheapestModel_FailsWithBudgetExceededWithoutQueuing()
    {
        var h = new MachineHarness(Llm("{limit: \"0.0001\"}"));

        Assert.Equal(ActivityStatus.Failed, h["ask"].Status);
        Assert.Equal(EngineErrorCodes.BudgetExceeded, h["ask"].ErrorCode);
        Assert.Equal("Budget exceeded before execution", h["ask"].ErrorMessage);
        Assert.Empty(h.Queued);
        Assert.Equal(WorkflowStatus.Failed, h.Status);
        var marker = Assert.Single(h.CostLines);
        Assert.Equal(CostLine.Abort, marker.BudgetEvent);
        Assert.Equal(0m, marker.CostUsd);
        Assert.Equal(0.00021m, marker.EstimatedCostUsd);
        Assert.Equal(0.0001m, marker.BudgetLimitUsd);
        Assert.Equal(("openai", "gpt-4o-mini"), (marker.Provider, marker.Model));
    }

    [Fact]
    public void Enqueue_ContinueAction_QueuesWithBudgetParameters()
    {
        var h = new MachineHarness(Llm("{limit: \"0.0001\", action: continue}"));

        Assert.Equal(["ask"], h.Queued);
        var parameters = h["ask"].Parameters!;
        Assert.Equal("continue", parameters[BudgetParameters.BudgetAction]!.GetValue<string>());
        Assert.Equal("0.0001", parameters[BudgetParameters.ActivityBudgetLimitUsd]!.GetValue<string>());
        Assert.Empty(h.CostLines);
    }

    [Fact]
    public void Enqueue_CheapestModelFits_AddsPricingLimitsAndSpend()
    {
        var h = new MachineHarness(Llm("{limit: \"0.001\"}"));

        Assert.Equal(["ask"], h.Queued);
        var parameters = h["ask"].Parameters!;
        var pricing = parameters[BudgetParameters.ModelPricing]!.AsObject();
        Assert.Equal(["openai/gpt-4o", "openai/gpt-4o-mini"], pricing.Select(p => p.Key));
        Assert.Equal("0.001", parameters[BudgetParameters.ActivityBudgetLimitUsd]!.GetValue<string>());
        Assert.Null(parameters[BudgetParameters.WorkflowBudgetLimitUsd]);
        Assert.Equal("0", parameters[BudgetParameters.CumulativeActivityCostUsd]!.GetValue<string>());
        Assert.Equal("abort", parameters[BudgetParameters.BudgetAction]!.GetValue<string>());
    }

    [Fact]
    public void Enqueue_WorkflowBudgetOnly_AppliesWorkflowLimitAndAction()
    {
        var h = new MachineHarness("""
            name: wf-budget
            settings: {budget: {limit: "0.0001", action: abort}}
            activities:
              - {key: ask, worker: std, activity_name: embedding, parameters: {model: openai/gpt-4o, input: hi}}
              - {key: other, activity_name: echo}
            """);

        Assert.Equal(EngineErrorCodes.BudgetExceeded, h["ask"].ErrorCode);
        Assert.Equal(["other"], h.Queued);
    }

    [Fact]
    public void Enqueue_BudgetOnNonAiActivity_NeverBlocks()
    {
        var h = new MachineHarness("""
            name: echo-budget
            activities:
              - {key: a, activity_name: echo, parameters: {model: openai/gpt-4o}, settings: {budget: {limit: "0"}}}
            """);

        Assert.Equal(["a"], h.Queued);
        Assert.Null(h["a"].Parameters![BudgetParameters.ModelPricing]);
    }

    [Fact]
    public void Fail_RetryWouldExceedBudget_FailsWithBudgetExceededInsteadOfRetrying()
    {
        var h = new MachineHarness(Llm("{limit: \"0.0003\"}"));
        Assert.Equal(["ask"], h.Queued);
        h.Claim("ask");
        var report = new CostReport(0m, [new PricedUsage("openai", "gpt-4o-mini", new TokenUsage(500, 100), 0.0002m)]);
        var willRetry = true;

        h.Step(m => willRetry = m.Fail(h["ask"], "LLM_PROVIDER_ERROR", "503", retryable: true, report));

        Assert.False(willRetry);
        Assert.Equal(EngineErrorCodes.BudgetExceeded, h["ask"].ErrorCode);
        Assert.Equal(0.0002m, h["ask"].Cost);
        Assert.Equal([null, CostLine.Abort], h.CostLines.Select(l => l.BudgetEvent));
    }

    [Fact]
    public void Fail_RetryWithinBudget_RetriesWithUpdatedSpend()
    {
        var h = new MachineHarness(Llm("{limit: \"0.01\"}"));
        h.Claim("ask");
        var report = new CostReport(0.001m, [new PricedUsage("openai", "gpt-4o", new TokenUsage(500, 100), 0.002m)]);
        var willRetry = false;

        h.Step(m => willRetry = m.Fail(h["ask"], "LLM_PROVIDER_ERROR", "503", retryable: true, report));

        Assert.True(willRetry);
        Assert.Equal("0.003", h["ask"].Parameters![BudgetParameters.CumulativeActivityCostUsd]!.GetValue<string>());
        Assert.Equal(2, h.CostLines.Count);
        Assert.Equal([("openai", 0.002m), ((string?)null, 0.001m)], h.CostLines.Select(l => (l.Provider, l.CostUsd)));
        Assert.All(h.CostLines, l => Assert.Equal(1, l.Attempt));
    }

    [Fact]
    public void Complete_FallbackSkippedForBudget_MarksAnsweringLineAsDowngrade()
    {
        var h = new MachineHarness(Llm("{limit: \"0.001\"}"));
        h.Claim("ask");
        var output = JsonNode.Parse("""
            {"response": "ok", "model": "openai/gpt-4o-mini",
             "fallback_attempts": [{"model": "openai/gpt-4o", "outcome": "skipped_budget", "estimated_cost_usd": 0.0035}]}
            """)!.AsObject();
        var report = new CostReport(0m, [new PricedUsage("openai", "gpt-4o-mini", new TokenUsage(10, 5), 0.000005m)]);

        h.Step(m => m.Complete(h["ask"], output, report));

        var line = Assert.Single(h.CostLines);
        Assert.Equal(CostLine.Downgrade, line.BudgetEvent);
        Assert.Equal(0.0035m, line.EstimatedCostUsd);
        Assert.Equal(0.001m, line.BudgetLimitUsd);
        Assert.Equal(WorkflowStatus.Completed, h.Status);
        Assert.Equal(0.000005m, h.Workflow.TotalCost);
    }

    [Fact]
    public void Complete_NoUsageAndNoCost_RecordsNoCostLine()
    {
        var h = new MachineHarness("name: e\nactivities:\n  - {key: a, activity_name: echo}\n");
        h.Complete("a");
        Assert.Empty(h.CostLines);
    }

    [Fact]
    public void Enqueue_CachedActivity_OffersCandidateAndCompletionWritesEntry()
    {
        var h = new MachineHarness("""
            name: cached
            activities:
              - {key: a, worker: std, activity_name: echo, parameters: {x: 1}, settings: {cache: true, cache_ttl: 60}}
            """);
        var (activity, key) = Assert.Single(h.LastMachine!.Decision.CacheCandidates);
        Assert.Same(h["a"], activity);
        Assert.StartsWith("std.echo:", key, StringComparison.Ordinal);
        Assert.Equal(ResultCacheKeys.Compute("std", "echo", null, new JsonObject { ["x"] = 1 }), key);

        h.Complete("a", new JsonObject { ["y"] = 2 });

        var entry = Assert.Single(h.LastMachine!.Decision.CacheWrites);
        Assert.Equal(key, entry.Key);
        Assert.Equal("""{"y":2}""", entry.Outputs.ToJsonString());
    }

    [Fact]
    public void CompleteFromCache_PendingActivity_CompletesAtZeroCostMarkedAsHit()
    {
        var h = new MachineHarness("""
            name: cached
            activities:
              - {key: a, activity_name: echo, settings: {cache: {enabled: true, key: "k"}}}
              - {key: b, activity_name: echo, depends_on: [a]}
            """);

        h.Step(m => m.CompleteFromCache(h["a"], new JsonObject { ["v"] = 1 }));

        Assert.Equal(ActivityStatus.Completed, h["a"].Status);
        Assert.Equal(0m, h["a"].Cost);
        Assert.Empty(h.LastMachine!.Decision.CacheWrites);
        var completed = h.Events.Single(e => e.EventType == EventTypes.ActivityCompleted);
        Assert.True(completed.Payload["cache_hit"]!.GetValue<bool>());
        Assert.Equal(["b"], h.Queued);
    }

    [Fact]
    public void ResultCacheKeys_BudgetParametersAndKeyOrder_DoNotChangeTheKey()
    {
        var plain = JsonNode.Parse("""{"b": 1, "a": [1, 2]}""")!.AsObject();
        var withBudget = JsonNode.Parse("""{"a": [1, 2], "b": 1, "model_pricing": {}, "cumulative_activity_cost_usd": "0.1"}""")!.AsObject();

        Assert.Equal(ResultCacheKeys.Compute("std", "llm_prompt", null, plain), ResultCacheKeys.Compute("std", "llm_prompt", null, withBudget));
        Assert.NotEqual(ResultCacheKeys.Compute("std", "llm_prompt", null, plain), ResultCacheKeys.Compute("std", "embedding", null, plain));
        Assert.Equal(ResultCacheKeys.Compute("std", "llm_prompt", JsonValue.Create("k"), plain), ResultCacheKeys.Compute("std", "llm_prompt", JsonValue.Create("k"), null));
    }

    [Fact]
    public void UsagePricing_LinesWithoutCost_PricedFromCatalogAndUnknownModelsWarned()
    {
        var warnings = new List<string>();
        var priced = UsagePricing.Price(ModelCatalog.Shipped,
        [
            new UsageReport("openai", "gpt-4o", new TokenUsage(1_000_000, 0), null),
            new UsageReport("openai", "gpt-4o", new TokenUsage(1_000_000, 0), 0.5m),
            new UsageReport("acme", "mystery-1", new TokenUsage(10, 10), null),
        ], warnings);

        Assert.Equal([2.5m, 0.5m, 0m], priced.Select(p => p.CostUsd));
        Assert.Contains("acme/mystery-1", Assert.Single(warnings), StringComparison.Ordinal);
    }
}
