using Spindle.Core.Costs;

namespace Spindle.Core.Tests.Costs;

public sealed class CostCalculatorTests
{
    [Fact]
    public void Price_InputAndOutput_IsExactDecimal()
    {
        var prices = new ModelPrices(InputPerMillion: 0.15m, OutputPerMillion: 0.60m);

        decimal cost = CostCalculator.Price(prices, new TokenUsage(InputTokens: 1234, OutputTokens: 567));

        // 1234 × 0.15 / 1e6 + 567 × 0.60 / 1e6 = 0.0001851 + 0.0003402
        Assert.Equal(0.0005253m, cost);
    }

    [Fact]
    public void Price_CacheTokens_UseTheirOwnRates()
    {
        var prices = new ModelPrices(3.00m, 15.00m, CachedInputPerMillion: 0.30m, CacheWritePerMillion: 3.75m, CacheStoragePerMillionTokenHours: 4.50m);

        decimal cost = CostCalculator.Price(prices, new TokenUsage(100, 200, CacheReadTokens: 1000, CacheCreationTokens: 2000, CacheStorageTokenHours: 0.5m));

        // (100×3 + 200×15 + 1000×0.30 + 2000×3.75 + 0.5×4.50) / 1e6
        Assert.Equal(0.01110225m, cost);
    }

    [Fact]
    public void Price_CacheTokensWithoutOwnRates_BilledAsInputAndStorageFree()
    {
        var prices = new ModelPrices(2.00m, 8.00m);

        decimal cost = CostCalculator.Price(prices, new TokenUsage(0, 0, CacheReadTokens: 500, CacheCreationTokens: 500, CacheStorageTokenHours: 10m));

        Assert.Equal(0.002m, cost);
    }

    [Fact]
    public void Price_ManySmallCalls_SumWithoutDrift()
    {
        Assert.True(ModelCatalog.Shipped.TryFind("openai/gpt-5-nano", out CatalogModel? model));
        decimal total = 0m;
        for (int i = 0; i < 10_000; i++)
        {
            total += CostCalculator.Price(model, new TokenUsage(1, 1));
        }

        // 10,000 × (0.05 + 0.40) / 1e6
        Assert.Equal(0.0045m, total);
    }

    [Fact]
    public void TryPrice_UnknownModel_ReturnsFalse()
    {
        Assert.False(CostCalculator.TryPrice(ModelCatalog.Shipped, "openai", "nope", new TokenUsage(1, 1), out decimal? cost));
        Assert.Null(cost);
    }

    [Fact]
    public void TryPrice_KnownModel_UsesCatalogPrices()
    {
        Assert.True(CostCalculator.TryPrice(ModelCatalog.Shipped, "anthropic", "claude-haiku-4-5-20251001", new TokenUsage(1200, 150), out decimal? cost));

        // 1200 × 1.00 / 1e6 + 150 × 5.00 / 1e6
        Assert.Equal(0.00195m, cost);
    }

    [Fact]
    public void TokenUsage_Add_SumsEveryField()
    {
        TokenUsage sum = new TokenUsage(1, 2, 3, 4, 0.5m) + new TokenUsage(10, 20, 30, 40, 1.5m);

        Assert.Equal(new TokenUsage(11, 22, 33, 44, 2.0m), sum);
        Assert.Equal(11 + 33 + 44, sum.PromptTokens);
        Assert.Equal(11 + 33 + 44 + 22, sum.TotalTokens);
    }
}
