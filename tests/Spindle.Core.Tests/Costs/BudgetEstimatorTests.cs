using Spindle.Core.Costs;

namespace Spindle.Core.Tests.Costs;

public sealed class BudgetEstimatorTests
{
    [Fact]
    public void EstimateCheapest_ModelList_PicksTheCheapest()
    {
        CostEstimate? estimate = BudgetEstimator.EstimateCheapest(
            ModelCatalog.Shipped,
            ["anthropic/claude-sonnet-4-5", "openai/gpt-4o-mini", "openai/gpt-4o"],
            maxTokens: null);

        Assert.NotNull(estimate);
        Assert.Equal("openai/gpt-4o-mini", estimate.ModelId);
        Assert.Equal(1000, estimate.InputTokens);
        Assert.Equal(4096, estimate.OutputTokens);

        // 1000 × 0.15 / 1e6 + 4096 × 0.60 / 1e6
        Assert.Equal(0.0026076m, estimate.CostUsd);
    }

    [Fact]
    public void EstimateCheapest_MaxTokens_ReplacesTheDefaultOutput()
    {
        CostEstimate? estimate = BudgetEstimator.EstimateCheapest(ModelCatalog.Shipped, ["anthropic/claude-haiku-4-5"], maxTokens: 200);

        Assert.NotNull(estimate);
        Assert.Equal(200, estimate.OutputTokens);

        // 1000 × 1 / 1e6 + 200 × 5 / 1e6
        Assert.Equal(0.002m, estimate.CostUsd);
    }

    [Fact]
    public void EstimateCheapest_UnknownModelsOnly_ReturnsNull()
    {
        Assert.Null(BudgetEstimator.EstimateCheapest(ModelCatalog.Shipped, ["openai/unknown", "x/y"], 100));
        Assert.Null(BudgetEstimator.EstimateCheapest(ModelCatalog.Shipped, [], 100));
    }

    [Fact]
    public void EstimateCheapest_LocalModelInList_IsFree()
    {
        CostEstimate? estimate = BudgetEstimator.EstimateCheapest(ModelCatalog.Shipped, ["openai/gpt-4o", "ollama/llama3.2"], null);

        Assert.Equal("ollama/llama3.2", estimate!.ModelId);
        Assert.Equal(0m, estimate.CostUsd);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(4, 1)]
    [InlineData(5, 2)]
    [InlineData(4001, 1001)]
    public void TokensForCharacters_RoundsUp(long characters, long tokens)
    {
        Assert.Equal(tokens, BudgetEstimator.TokensForCharacters(characters));
    }

    [Fact]
    public void BudgetCheck_Fits_AllowsReachingTheLimitExactly()
    {
        var check = new BudgetCheck(ActivityLimitUsd: 0.01m, ActivitySpentUsd: 0.004m, WorkflowLimitUsd: null, WorkflowSpentUsd: 0m);

        Assert.True(check.Fits(0.006m));
        Assert.False(check.Fits(0.0060001m));
        Assert.Equal(0.006m, check.RemainingUsd);
    }

    [Fact]
    public void BudgetCheck_TighterLimit_Wins()
    {
        var check = new BudgetCheck(1.00m, 0m, 0.50m, 0.45m);

        Assert.Equal(0.05m, check.RemainingUsd);
        Assert.False(check.Fits(0.06m));
        Assert.True(check.After(0.01m).Fits(0.04m));
        Assert.False(check.After(0.02m).Fits(0.04m));
    }

    [Fact]
    public void BudgetCheck_Unlimited_FitsEverything()
    {
        Assert.False(BudgetCheck.Unlimited.HasLimit);
        Assert.Null(BudgetCheck.Unlimited.RemainingUsd);
        Assert.True(BudgetCheck.Unlimited.Fits(1_000_000m));
    }
}
