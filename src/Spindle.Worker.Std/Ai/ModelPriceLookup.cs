using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// Prices of the models of one execution: the server's <c>model_pricing</c> parameter first (it is what the server
/// charges), then the worker's catalog. Null for a model neither knows.
/// </summary>
internal sealed class ModelPriceLookup(ModelCatalog catalog, IReadOnlyDictionary<string, ModelPrices> fromServer)
{
    public ModelPrices? Find(string modelId)
    {
        if (fromServer.TryGetValue(modelId, out ModelPrices? prices))
        {
            return prices;
        }

        return catalog.TryFind(modelId, out CatalogModel? model) ? model.Prices : null;
    }

    public int? MaxOutputTokens(string modelId) =>
        catalog.TryFind(modelId, out CatalogModel? model) ? model.MaxOutputTokens : null;
}
