using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Protocol;

namespace Spindle.Server.Api;

/// <summary>The LLM catalog (docs/api.md): providers and model search with prices.</summary>
public static class LlmApi
{
    public static RouteGroupBuilder MapLlmApi(this RouteGroupBuilder api)
    {
        api.MapGet("/llm/providers", ListProviders).WithTags("LLM").WithSummary("Model providers and models of the price catalog")
            .Answers<List<LlmProvider>>();
        api.MapPost("/llm/models/search", SearchModels).WithTags("LLM").WithSummary("Search the model catalog")
            .JsonBody<ModelSearchRequest>().Answers<ModelSearchResponse>(200, 400, 422);
        return api;
    }

    public static IResult ListProviders(ModelCatalog catalog)
    {
        var list = catalog.Providers.Select(p => new LlmProvider
        {
            Name = p.Name,
            DisplayName = p.DisplayName,
            ApiEndpoint = p.ApiEndpoint,
            SupportsCompletion = p.SupportsCompletion,
            SupportsEmbeddings = p.SupportsEmbeddings,
            SupportsStreaming = p.SupportsStreaming,
            RequiresApiKey = p.RequiresApiKey,
        }).ToList();
        return Json.Result(list, SpindleJsonContext.Default.ListLlmProvider);
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
        var models = catalog.Search(queries).Select(m => new LlmModel
        {
            Id = m.Id,
            Provider = m.Provider,
            Name = m.Name,
            DisplayName = m.DisplayName,
            InputPricePerMillion = Price(m.Prices.InputPerMillion),
            OutputPricePerMillion = Price(m.Prices.OutputPerMillion),
            CachedInputPricePerMillion = Price(m.Prices.CachedInputPerMillion),
            CacheWritePricePerMillion = Price(m.Prices.CacheWritePerMillion),
            CacheStoragePricePerMillionTokenHours = Price(m.Prices.CacheStoragePerMillionTokenHours),
            SupportsCompletion = m.SupportsCompletion,
            SupportsEmbeddings = m.SupportsEmbeddings,
            ContextWindow = m.ContextWindow,
            MaxOutputTokens = m.MaxOutputTokens,
        }).ToList();
        return Json.Result(new ModelSearchResponse { Models = models }, SpindleJsonContext.Default.ModelSearchResponse);
    }

    private static string? Price(decimal? value) => value?.ToString(CultureInfo.InvariantCulture);
}
