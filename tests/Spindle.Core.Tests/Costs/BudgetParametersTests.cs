using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Core.Tests.Costs;

public sealed class BudgetParametersTests
{
    [Fact]
    public void Apply_ThenRead_RoundTripsLimitsAndPrices()
    {
        var parameters = new JsonObject { ["models"] = new JsonArray("openai/gpt-4o", "openai/unknown", "anthropic/claude-haiku-4-5") };

        BudgetParameters.Apply(parameters, ModelCatalog.Shipped, activityLimitUsd: 0.05m, workflowLimitUsd: null, cumulativeActivityCostUsd: 0.01m, cumulativeWorkflowCostUsd: 0.2m, action: "abort");

        Assert.Equal("0.05", parameters["activity_budget_limit_usd"]!.GetValue<string>());
        Assert.Null(parameters["workflow_budget_limit_usd"]);
        BudgetCheck check = BudgetParameters.ReadBudget(parameters);
        Assert.Equal(new BudgetCheck(0.05m, 0.01m, null, 0.2m), check);
        Assert.False(BudgetParameters.IsContinue(parameters));

        IReadOnlyDictionary<string, ModelPrices> pricing = BudgetParameters.ReadModelPricing(parameters["model_pricing"]);
        Assert.Equal(2, pricing.Count);
        Assert.Equal(new ModelPrices(2.50m, 10.00m, 1.25m), pricing["openai/gpt-4o"]);
        Assert.Equal(new ModelPrices(1.00m, 5.00m, 0.10m, 1.25m), pricing["anthropic/claude-haiku-4-5"]);
    }

    [Fact]
    public void ReadModelPricing_SearchAnswerShape_IsAccepted()
    {
        JsonNode node = JsonNode.Parse("""
            [{"id": "openai/gpt-4o-mini", "input_price_per_million": 0.15, "output_price_per_million": 0.6},
             {"id": "broken", "input_price_per_million": "x"},
             {"input_price_per_million": 1}]
            """)!;

        IReadOnlyDictionary<string, ModelPrices> pricing = BudgetParameters.ReadModelPricing(node);

        Assert.Equal(new ModelPrices(0.15m, 0.6m), Assert.Single(pricing).Value);
    }

    [Fact]
    public void ReadBudget_NumbersAndStrings_AreReadAsDecimals()
    {
        JsonObject parameters = JsonNode.Parse("""
            {"activity_budget_limit_usd": 0.1, "workflow_budget_limit_usd": "2.5", "cumulative_activity_cost_usd": "0.003", "budget_action": "Continue"}
            """)!.AsObject();

        Assert.Equal(new BudgetCheck(0.1m, 0.003m, 2.5m, 0m), BudgetParameters.ReadBudget(parameters));
        Assert.True(BudgetParameters.IsContinue(parameters));
    }

    [Fact]
    public void ModelIdsOf_ModelsOrModel_InOrder()
    {
        Assert.Equal(["a/1", "b/2"], BudgetParameters.ModelIdsOf(JsonNode.Parse("""{"models": ["a/1", 3, "b/2"], "model": "c/3"}""")!.AsObject()));
        Assert.Equal(["c/3"], BudgetParameters.ModelIdsOf(JsonNode.Parse("""{"model": "c/3"}""")!.AsObject()));
        Assert.Empty(BudgetParameters.ModelIdsOf([]));
    }
}
