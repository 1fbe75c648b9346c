using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Server.Api;

/// <summary>The LLM catalog (http-api.md §11): providers and model search with prices.</summary>
public static class LlmApi
{
    public static RouteGroupBuilder MapLlmApi(this RouteGroupBuilder api)
    {
        api.MapGet("/llm/providers", ListProviders).WithTags("LLM").WithSummary("Model providers and models of the price catalog");
        api.MapPost("/llm/models/search", SearchModels).WithTags("LLM").WithSummary("Search the model catalog").Errors(422);
        return api;
    }

    public static IResult ListProviders(ModelCatalog catalog)
    {
        var list = new JsonArray();
        foreach (var p in catalog.Providers)
        {
            list.Add(new JsonObject
            {
                ["name"] = p.Name,
                ["display_name"] = p.DisplayName,
                ["api_endpoint"] = p.ApiEndpoint,
                ["supports_completion"] = p.SupportsCompletion,
                ["supports_embeddings"] = p.SupportsEmbeddings,
                ["supports_streaming"] = p.SupportsStreaming,
                ["requires_api_key"] = p.RequiresApiKey,
            });
        }
        return Json.Result(list);
    }

    public static async Task<IResult> SearchModels(HttpRequest request, ModelCatalog catalog, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        if (body!["models"] is not JsonArray criteria)
        {
            return ApiErrors.Validation("models", "models must be a list of {provider?, model?} criteria");
        }
        var queries = new List<ModelQuery>();
        for (var i = 0; i < criteria.Count; i++)
        {
            if (criteria[i] is not JsonObject c
                || (c["provider"] is { } p && p.GetValueKind() != JsonValueKind.String)
                || (c["model"] is { } m && m.GetValueKind() != JsonValueKind.String))
            {
                return ApiErrors.Validation($"models[{i}]", "each criterion is an object with optional string provider and model");
            }
            queries.Add(new ModelQuery(c["provider"]?.GetValue<string>(), c["model"]?.GetValue<string>()));
        }
        var models = new JsonArray();
        foreach (var m in catalog.Search(queries))
        {
            models.Add(new JsonObject
            {
                ["id"] = m.Id,
                ["provider"] = m.Provider,
                ["name"] = m.Name,
                ["display_name"] = m.DisplayName,
                ["input_price_per_million"] = Price(m.Prices.InputPerMillion),
                ["output_price_per_million"] = Price(m.Prices.OutputPerMillion),
                ["cached_input_price_per_million"] = Price(m.Prices.CachedInputPerMillion),
                ["cache_write_price_per_million"] = Price(m.Prices.CacheWritePerMillion),
                ["cache_storage_price_per_million_token_hours"] = Price(m.Prices.CacheStoragePerMillionTokenHours),
                ["supports_completion"] = m.SupportsCompletion,
                ["supports_embeddings"] = m.SupportsEmbeddings,
                ["context_window"] = m.ContextWindow,
                ["max_output_tokens"] = m.MaxOutputTokens,
            });
        }
        return Json.Result(new JsonObject { ["models"] = models });
    }

    private static string? Price(decimal? value) => value?.ToString(CultureInfo.InvariantCulture);
}
