using Spindle.Core.Costs;
using Spindle.Worker.Std.Ai;

namespace Spindle.Worker.Tests.Ai;

public sealed class AiSettingsTests
{
    [Fact]
    public void FromEnvironment_SpindleNames_WinOverProviderNames()
    {
        var env = new Dictionary<string, string>
        {
            ["SPINDLE_OPENAI_API_KEY"] = "spindle-key",
            ["OPENAI_API_KEY"] = "plain-key",
            ["ANTHROPIC_API_KEY"] = "ant-key",
            ["GEMINI_API_KEY"] = "gemini-key",
            ["OPENAI_BASE_URL"] = "https://proxy.example/v1",
            ["OLLAMA_HOST"] = "0.0.0.0:11500",
        };

        AiSettings settings = AiSettings.FromEnvironment(name => env.GetValueOrDefault(name));

        Assert.Equal("spindle-key", settings.GetApiKey("openai"));
        Assert.Equal("ant-key", settings.GetApiKey("anthropic"));
        Assert.Equal("gemini-key", settings.GetApiKey("google"));
        Assert.Null(settings.GetApiKey("ollama"));
        Assert.Equal(new Uri("https://proxy.example/v1/"), settings.GetBaseUrl("openai"));
        Assert.Equal(new Uri("http://127.0.0.1:11500/"), settings.GetBaseUrl("ollama"));
        Assert.Equal(new Uri("https://api.anthropic.com/"), settings.GetBaseUrl("anthropic"));
        Assert.Same(ModelCatalog.Shipped, settings.Catalog);
    }

    [Fact]
    public void FromEnvironment_CatalogOverride_IsLoaded()
    {
        string path = Path.Combine(Path.GetTempPath(), $"spindle-ai-catalog-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"models": [{"id": "openai/gpt-4o", "input_price_per_million": "1"}]}""");
        try
        {
            AiSettings settings = AiSettings.FromEnvironment(name => name == "SPINDLE_MODEL_CATALOG" ? path : null);

            Assert.True(settings.Catalog.TryFind("openai/gpt-4o", out CatalogModel? model));
            Assert.Equal(1m, model.Prices.InputPerMillion);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void FromEnvironment_InvalidBaseUrl_Throws()
    {
        Assert.Throws<FormatException>(() => AiSettings.FromEnvironment(name => name == "SPINDLE_GOOGLE_BASE_URL" ? "ftp://x" : null));
    }
}
