using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Core.Tests.Costs;

/// <summary>The budget check before an LLM call and the cost lines of an attempt, without the machine around them.</summary>
public sealed class BudgetGateTests
{
    // At shipped catalog prices, 1,000 input + 100 output tokens of gpt-4o-mini cost $0.00021.
    private static JsonObject Parameters() =>
        JsonNode.Parse("""{"models": ["openai/gpt-4o", "openai/gpt-4o-mini"], "prompt": "hi", "max_tokens": 100}""")!.AsObject();

    [Fact]
    public void Check_WorkflowLimitExceeded_AbortsNamingTheWorkflowSpend()
    {
        var parameters = Parameters();

        var abort = BudgetGate.Check(parameters, new BudgetCheck(null, 0m, 0.001m, 0.0009m), "abort", ModelCatalog.Shipped, "ask", 2, 3);

        Assert.NotNull(abort);
        Assert.Equal("the cheapest model openai/gpt-4o-mini is estimated at $0.00021 and the workflow has spent $0.0009 of its $0.001 limit",
            abort.Detail);
        Assert.Equal(new CostLine("ask", 2, 3, "openai", "gpt-4o-mini", default, 0m, 0.001m, CostLine.Abort, 0.00021m), abort.Marker);
        Assert.Null(parameters[BudgetParameters.BudgetAction]);
    }

    [Fact]
    public void Check_Fits_AddsTheBudgetParameters()
    {
        var parameters = Parameters();

        var abort = BudgetGate.Check(parameters, new BudgetCheck(0.01m, 0m, null, 0m), "abort", ModelCatalog.Shipped, "ask", 0, 1);

        Assert.Null(abort);
        Assert.Equal("0.01", parameters[BudgetParameters.ActivityBudgetLimitUsd]!.GetValue<string>());
    }

    [Fact]
    public void AttemptCostLines_SkippedModelsUnderResult_MarksTheAnsweringLine()
    {
        var report = new CostReport(0.001m,
        [
            new PricedUsage("openai", "gpt-4o", new TokenUsage(10, 5), 0.0001m),
            new PricedUsage("openai", "gpt-4o-mini", new TokenUsage(10, 5), 0.00001m),
        ]);
        var output = JsonNode.Parse("""{"result": {"model_id": "openai/gpt-4o", "budget_skipped_models": ["x/y"]}}""")!.AsObject();

        var lines = AttemptCostLines.Of("ask", 0, 1, report, output, 0.5m);

        Assert.Equal([CostLine.Downgrade, null, null], lines.Select(l => l.BudgetEvent));
        Assert.Equal([0.0001m, 0.00001m, 0.001m], lines.Select(l => l.CostUsd));
        Assert.All(lines, l => Assert.Equal(0.5m, l.BudgetLimitUsd));
    }

    [Fact]
    public void AttemptCostLines_NothingReported_NoLines()
    {
        Assert.Empty(AttemptCostLines.Of("ask", 0, 1, CostReport.None, null, null));
    }
}
