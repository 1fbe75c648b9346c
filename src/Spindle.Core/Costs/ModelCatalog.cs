using System.Diagnostics.CodeAnalysis;

namespace Spindle.Core.Costs;

/// <summary>
/// The LLM providers and models with their prices (docs/api.md). The catalog shipped with Spindle
/// (<c>model-catalog.json</c>, an embedded resource) is the base; an operator's file in the same format overrides
/// it field by field (<see cref="Load"/>). Immutable and safe for concurrent use.
/// </summary>
public sealed class ModelCatalog
{
    /// <summary>The environment variable naming an operator's override file.</summary>
    public const string OverrideEnvironmentVariable = "SPINDLE_MODEL_CATALOG";

    private const string ResourceName = "Spindle.Core.Costs.model-catalog.json";

    private static readonly Lazy<ModelCatalog> ShippedCatalog = new(LoadShipped, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly ModelCatalogDocument _document;
    private readonly Dictionary<string, CatalogModel> _modelsById;
    private readonly Dictionary<string, CatalogProvider> _providersByName;

    private ModelCatalog(ModelCatalogDocument document, string source)
    {
        _document = document;
        (IReadOnlyList<CatalogProvider> providers, IReadOnlyList<CatalogModel> models) = document.Build(source);
        Providers = providers;
        Models = models;
        _modelsById = models.ToDictionary(m => m.Id, StringComparer.OrdinalIgnoreCase);
        _providersByName = providers.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        Version = document.Version;
    }

    /// <summary>The catalog shipped with Spindle.</summary>
    public static ModelCatalog Shipped => ShippedCatalog.Value;

    /// <summary>The <c>version</c> of the last file that set one (the shipped catalog's unless overridden).</summary>
    public string? Version { get; }

    public IReadOnlyList<CatalogProvider> Providers { get; }

    public IReadOnlyList<CatalogModel> Models { get; }

    /// <summary>
    /// The shipped catalog, merged with the operator's file at <paramref name="overridePath"/> when one is given
    /// (null or blank means none). Throws <see cref="ModelCatalogException"/> when that file is missing or invalid,
    /// because an operator who names a file expects its prices to apply.
    /// </summary>
    public static ModelCatalog Load(string? overridePath)
    {
        if (string.IsNullOrWhiteSpace(overridePath))
        {
            return Shipped;
        }

        string json;
        try
        {
            json = File.ReadAllText(overridePath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ModelCatalogException($"Cannot read the model catalog override '{overridePath}': {ex.Message}", ex);
        }

        return Shipped.MergedWith(json, overridePath);
    }

    /// <summary>The catalog described by <paramref name="json"/> alone (same format as the shipped file).</summary>
    public static ModelCatalog Parse(string json, string source = "catalog")
    {
        ArgumentNullException.ThrowIfNull(json);
        return new ModelCatalog(ModelCatalogDocument.Parse(json, source), source);
    }

    /// <summary>A new catalog: this one with <paramref name="overrideJson"/> applied over it field by field.</summary>
    public ModelCatalog MergedWith(string overrideJson, string source = "override")
    {
        ArgumentNullException.ThrowIfNull(overrideJson);
        ModelCatalogDocument merged = _document.Clone();
        merged.Merge(overrideJson, source);
        return new ModelCatalog(merged, source);
    }

    public CatalogProvider? FindProvider(string name) =>
        _providersByName.TryGetValue(name, out CatalogProvider? provider) ? provider : null;

    /// <summary>Looks up <c>"provider/name"</c>; see <see cref="TryFind(string, string, out CatalogModel)"/>.</summary>
    public bool TryFind(string modelId, [NotNullWhen(true)] out CatalogModel? model)
    {
        model = null;
        return ModelIds.TrySplit(modelId, out string? provider, out string? name) && TryFind(provider, name, out model);
    }

    /// <summary>
    /// Looks up a model by provider and name, ignoring case; a dated snapshot or an Ollama tag falls back to its
    /// family entry (<see cref="ModelIds.LookupNames"/>), and any model of a <see cref="CatalogProvider.Local"/>
    /// provider is found with zero prices.
    /// </summary>
    public bool TryFind(string provider, string name, [NotNullWhen(true)] out CatalogModel? model)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(name);
        foreach (string candidate in ModelIds.LookupNames(name))
        {
            if (_modelsById.TryGetValue(ModelIds.Join(provider, candidate), out model))
            {
                return true;
            }
        }

        if (FindProvider(provider) is { Local: true } local)
        {
            model = new CatalogModel
            {
                Id = ModelIds.Join(local.Name, name),
                Provider = local.Name,
                Name = name,
                DisplayName = name,
                Prices = ModelPrices.Free,
                SupportsCompletion = local.SupportsCompletion,
                SupportsEmbeddings = local.SupportsEmbeddings,
            };
            return true;
        }

        model = null;
        return false;
    }

    /// <summary>
    /// The models matching any of <paramref name="criteria"/>, in catalog order (<c>POST /api/v1/llm/models/search</c>):
    /// an empty list matches nothing.
    /// </summary>
    public IReadOnlyList<CatalogModel> Search(IEnumerable<ModelQuery> criteria)
    {
        ArgumentNullException.ThrowIfNull(criteria);
        ModelQuery[] queries = [.. criteria];
        return [.. Models.Where(model => queries.Any(query => Matches(model, query)))];
    }

    private static bool Matches(CatalogModel model, ModelQuery query)
    {
        if (!string.IsNullOrEmpty(query.Provider) && !string.Equals(model.Provider, query.Provider, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return string.IsNullOrEmpty(query.Model)
            || string.Equals(model.Name, query.Model, StringComparison.OrdinalIgnoreCase)
            || string.Equals(model.Id, query.Model, StringComparison.OrdinalIgnoreCase);
    }

    private static ModelCatalog LoadShipped()
    {
        using Stream stream = typeof(ModelCatalog).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new ModelCatalogException($"The shipped model catalog '{ResourceName}' is missing from {typeof(ModelCatalog).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), "shipped model-catalog.json");
    }
}
