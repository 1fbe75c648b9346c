using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class LlmApiTests(ServerFixture server)
{
    [Fact]
    public async Task Providers_ListsTheFourProviders()
    {
        using var response = await server.Http.GetAsync("/api/v1/llm/providers");
        var list = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
        var names = list.Select(p => p!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("openai", names);
        Assert.Contains("anthropic", names);
        Assert.Contains("google", names);
        Assert.Contains("ollama", names);
    }

    [Fact]
    public async Task SearchModels_ByProvider_ReturnsPricedModelsAndEmptyListMatchesNothing()
    {
        var (status, body) = await server.PostAsync("/api/v1/llm/models/search",
            new JsonObject { ["models"] = new JsonArray(new JsonObject { ["provider"] = "anthropic" }) });
        Assert.Equal(200, status);
        var models = body["models"]!.AsArray();
        Assert.NotEmpty(models);
        Assert.All(models, m =>
        {
            Assert.Equal("anthropic", m!["provider"]!.GetValue<string>());
            Assert.True(decimal.Parse(m["input_price_per_million"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) > 0);
        });
        var (_, none) = await server.PostAsync("/api/v1/llm/models/search", new JsonObject { ["models"] = new JsonArray() });
        Assert.Empty(none["models"]!.AsArray());
        Assert.Equal(422, (await server.PostAsync("/api/v1/llm/models/search", new JsonObject { ["models"] = 3 })).Status);
    }
}
