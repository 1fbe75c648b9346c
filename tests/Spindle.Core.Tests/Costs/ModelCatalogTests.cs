using Spindle.Core.Costs;

namespace Spindle.Core.Tests.Costs;

public sealed class ModelCatalogTests
{
    [Fact]
    public void Shipped_Loads_WithTheFourProvidersAndPricedModels()
    {
        ModelCatalog catalog = ModelCatalog.Shipped;

        Assert.Equal(["openai", "anthropic", "google", "ollama"], catalog.Providers.Select(p => p.Name));
        Assert.All(catalog.Models, m => Assert.Equal(m.Id, m.Provider + "/" + m.Name));
        Assert.Contains(catalog.Models, m => m.Provider == "openai" && m.SupportsEmbeddings);
        Assert.Contains(catalog.Models, m => m.Provider == "google" && m.SupportsEmbeddings);
        Assert.Contains(catalog.Models, m => m.Provider == "ollama" && m.SupportsEmbeddings);
        Assert.All(catalog.Models.Where(m => m.Provider == "ollama"), m => Assert.Equal(0m, m.Prices.InputPerMillion + m.Prices.OutputPerMillion));
        Assert.All(catalog.Models.Where(m => m.SupportsCompletion), m => Assert.NotNull(m.MaxOutputTokens));
        Assert.False(catalog.FindProvider("ollama")!.RequiresApiKey);
        Assert.True(catalog.FindProvider("anthropic")!.RequiresApiKey);
    }

    [Fact]
    public void Shipped_GptFourOMini_HasPublicListPrices()
    {
        Assert.True(ModelCatalog.Shipped.TryFind("openai/gpt-4o-mini", out CatalogModel? model));

        Assert.Equal(0.15m, model.Prices.InputPerMillion);
        Assert.Equal(0.60m, model.Prices.OutputPerMillion);
        Assert.Equal(0.075m, model.Prices.CachedInputPerMillion);
        Assert.Equal(128000, model.ContextWindow);
    }

    [Theory]
    [InlineData("anthropic/claude-haiku-4-5-20251001", "anthropic/claude-haiku-4-5")]
    [InlineData("openai/gpt-4o-2024-08-06", "openai/gpt-4o")]
    [InlineData("OpenAI/GPT-4o", "openai/gpt-4o")]
    [InlineData("anthropic/claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku")]
    [InlineData("ollama/llama3.2:3b", "ollama/llama3.2")]
    public void TryFind_SnapshotOrTag_FindsTheFamilyEntry(string id, string expected)
    {
        Assert.True(ModelCatalog.Shipped.TryFind(id, out CatalogModel? model));
        Assert.Equal(expected, model.Id);
    }

    [Fact]
    public void TryFind_UnlistedModelOfLocalProvider_IsFree()
    {
        Assert.True(ModelCatalog.Shipped.TryFind("ollama/some-custom-model:7b", out CatalogModel? model));

        Assert.Equal(ModelPrices.Free, model.Prices);
        Assert.Equal("ollama/some-custom-model:7b", model.Id);
    }

    [Theory]
    [InlineData("openai/no-such-model")]
    [InlineData("nobody/gpt-4o")]
    [InlineData("gpt-4o")]
    [InlineData("")]
    public void TryFind_UnknownOrMalformedId_ReturnsFalse(string id)
    {
        Assert.False(ModelCatalog.Shipped.TryFind(id, out _));
    }

    [Fact]
    public void MergedWith_PartialEntry_OverridesOnlyGivenFields()
    {
        ModelCatalog merged = ModelCatalog.Shipped.MergedWith("""
            {"models": [{"id": "openai/gpt-4o", "input_price_per_million": "2.00"}]}
            """);

        Assert.True(merged.TryFind("openai/gpt-4o", out CatalogModel? model));
        Assert.Equal(2.00m, model.Prices.InputPerMillion);
        Assert.Equal(10.00m, model.Prices.OutputPerMillion);
        Assert.Equal(128000, model.ContextWindow);
        Assert.Equal(ModelCatalog.Shipped.Models.Count, merged.Models.Count);
        Assert.True(ModelCatalog.Shipped.TryFind("openai/gpt-4o", out CatalogModel? original));
        Assert.Equal(2.50m, original.Prices.InputPerMillion);
    }

    [Fact]
    public void MergedWith_NewProviderAndModel_AddsThem()
    {
        ModelCatalog merged = ModelCatalog.Shipped.MergedWith("""
            {
              "providers": [{"name": "mistral", "display_name": "Mistral AI", "supports_completion": true}],
              "models": [{"provider": "mistral", "name": "mistral-small", "input_price_per_million": 0.1, "output_price_per_million": 0.3, "supports_completion": true}]
            }
            """);

        Assert.Equal("Mistral AI", merged.FindProvider("mistral")!.DisplayName);
        Assert.True(merged.TryFind("mistral/mistral-small", out CatalogModel? model));
        Assert.Equal(0.1m, model.Prices.InputPerMillion);
        Assert.Equal(0.3m, model.Prices.OutputPerMillion);
    }

    [Fact]
    public void MergedWith_RemovedModel_DropsIt()
    {
        ModelCatalog merged = ModelCatalog.Shipped.MergedWith("""{"models": [{"id": "openai/gpt-4o", "removed": true}]}""");

        Assert.False(merged.TryFind("openai/gpt-4o", out _));
        Assert.Equal(ModelCatalog.Shipped.Models.Count - 1, merged.Models.Count);
    }

    [Fact]
    public void MergedWith_Replace_KeepsOnlyTheOverride()
    {
        ModelCatalog merged = ModelCatalog.Shipped.MergedWith("""
            {"replace": true, "models": [{"id": "acme/m1", "input_price_per_million": "1", "output_price_per_million": "2", "supports_completion": true}]}
            """);

        CatalogModel only = Assert.Single(merged.Models);
        Assert.Equal("acme/m1", only.Id);
        Assert.Equal("acme", Assert.Single(merged.Providers).Name);
    }

    [Fact]
    public void Load_OverrideFile_MergesOverShipped()
    {
        string path = Path.Combine(Path.GetTempPath(), $"spindle-catalog-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"models": [{"id": "anthropic/claude-haiku-4-5", "output_price_per_million": "4.00"}]}""");
        try
        {
            ModelCatalog catalog = ModelCatalog.Load(path);

            Assert.True(catalog.TryFind("anthropic/claude-haiku-4-5", out CatalogModel? model));
            Assert.Equal(4.00m, model.Prices.OutputPerMillion);
            Assert.Equal(1.00m, model.Prices.InputPerMillion);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_NoPath_ReturnsShipped()
    {
        Assert.Same(ModelCatalog.Shipped, ModelCatalog.Load(null));
        Assert.Same(ModelCatalog.Shipped, ModelCatalog.Load(" "));
    }

    [Fact]
    public void Load_MissingFile_ThrowsNamingThePath()
    {
        string path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.json");

        var ex = Assert.Throws<ModelCatalogException>(() => ModelCatalog.Load(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"models": [{"id": "no-slash", "input_price_per_million": "1", "output_price_per_million": "1"}]}""", "provider/name")]
    [InlineData("""{"models": [{"id": "a/b", "input_price_per_million": "-1", "output_price_per_million": "1"}]}""", "negative")]
    [InlineData("""{"models": [{"id": "a/b", "input_price_per_million": "cheap"}]}""", "decimal")]
    [InlineData("""{"models": [{"id": "a/b", "input_price_per_million": "1", "supports_completion": true}]}""", "output_price_per_million")]
    [InlineData("""[1, 2]""", "JSON object")]
    [InlineData("""{"models": """, "not valid JSON")]
    public void Parse_InvalidCatalog_ThrowsWithReason(string json, string reason)
    {
        var ex = Assert.Throws<ModelCatalogException>(() => ModelCatalog.Parse(json, "test.json"));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("test.json", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Search_Criteria_MatchProviderAndName()
    {
        ModelCatalog catalog = ModelCatalog.Shipped;

        Assert.Empty(catalog.Search([]));
        Assert.Equal(catalog.Models.Count, catalog.Search([new ModelQuery()]).Count);
        Assert.All(catalog.Search([new ModelQuery(Provider: "anthropic")]), m => Assert.Equal("anthropic", m.Provider));
        Assert.Equal(["openai/gpt-4o"], catalog.Search([new ModelQuery(Model: "GPT-4o")]).Select(m => m.Id));
        Assert.Equal(
            ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"],
            catalog.Search([new ModelQuery("openai", "gpt-4o-mini"), new ModelQuery(Model: "anthropic/claude-haiku-4-5")]).Select(m => m.Id));
    }
}
