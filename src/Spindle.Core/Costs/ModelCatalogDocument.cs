using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Core.Costs;

/// <summary>
/// The JSON form of a catalog while it is being assembled: providers keyed by name and models keyed by id, so an
/// operator's file can override single fields of an entry (<see cref="Merge"/>) before the entries are typed.
/// </summary>
internal sealed class ModelCatalogDocument
{
    private readonly Dictionary<string, JsonObject> _providers = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _providerOrder = [];
    private readonly Dictionary<string, JsonObject> _models = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _modelOrder = [];

    public string? Version { get; private set; }

    public static ModelCatalogDocument Parse(string json, string source)
    {
        var document = new ModelCatalogDocument();
        document.Merge(json, source);
        return document;
    }

    public ModelCatalogDocument Clone()
    {
        var copy = new ModelCatalogDocument { Version = Version };
        foreach (string name in _providerOrder)
        {
            copy.SetProvider(name, (JsonObject)_providers[name].DeepClone());
        }

        foreach (string id in _modelOrder)
        {
            copy.SetModel(id, (JsonObject)_models[id].DeepClone());
        }

        return copy;
    }

    /// <summary>
    /// Applies <paramref name="json"/> over this document: fields of an existing provider or model are replaced one
    /// by one, new entries are added, a model with <c>"removed": true</c> is dropped, and <c>"replace": true</c> at
    /// the top drops every entry first.
    /// </summary>
    public void Merge(string json, string source)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                ?? throw new ModelCatalogException($"{source}: the catalog must be a JSON object with 'providers' and 'models'.");
        }
        catch (JsonException ex)
        {
            throw new ModelCatalogException($"{source}: not valid JSON: {ex.Message}", ex);
        }

        if (root["replace"] is JsonValue replace && replace.GetValueKind() == JsonValueKind.True)
        {
            _providers.Clear();
            _providerOrder.Clear();
            _models.Clear();
            _modelOrder.Clear();
        }

        if (root["version"] is JsonValue version)
        {
            Version = version.ToString();
        }

        foreach (JsonObject entry in Entries(root, "providers", source))
        {
            string name = RequiredText(entry, "name", $"{source}: providers[]").ToLowerInvariant();
            if (_providers.TryGetValue(name, out JsonObject? existing))
            {
                Overlay(existing, entry);
            }
            else
            {
                SetProvider(name, (JsonObject)entry.DeepClone());
            }
        }

        foreach (JsonObject entry in Entries(root, "models", source))
        {
            string id = ModelId(entry, source);
            if (entry["removed"] is JsonValue removed && removed.GetValueKind() == JsonValueKind.True)
            {
                if (_models.Remove(id))
                {
                    _modelOrder.RemoveAll(x => string.Equals(x, id, StringComparison.OrdinalIgnoreCase));
                }

                continue;
            }

            if (_models.TryGetValue(id, out JsonObject? existing))
            {
                Overlay(existing, entry);
            }
            else
            {
                SetModel(id, (JsonObject)entry.DeepClone());
            }
        }
    }

    public (IReadOnlyList<CatalogProvider> Providers, IReadOnlyList<CatalogModel> Models) Build(string source)
    {
        var models = new List<CatalogModel>(_modelOrder.Count);
        foreach (string id in _modelOrder)
        {
            models.Add(ToModel(id, _models[id], source));
        }

        var providers = new List<CatalogProvider>(_providerOrder.Count);
        foreach (string name in _providerOrder)
        {
            providers.Add(ToProvider(name, _providers[name], source));
        }

        // A model of a provider the file does not list still gets a provider entry, so listings stay complete.
        foreach (IGrouping<string, CatalogModel> group in models.GroupBy(m => m.Provider, StringComparer.OrdinalIgnoreCase))
        {
            if (!_providers.ContainsKey(group.Key))
            {
                providers.Add(new CatalogProvider
                {
                    Name = group.Key,
                    DisplayName = group.Key,
                    SupportsCompletion = group.Any(m => m.SupportsCompletion),
                    SupportsEmbeddings = group.Any(m => m.SupportsEmbeddings),
                    RequiresApiKey = true,
                });
            }
        }

        return (providers, models);
    }

    private void SetProvider(string name, JsonObject entry)
    {
        if (_providers.TryAdd(name, entry))
        {
            _providerOrder.Add(name);
        }
        else
        {
            _providers[name] = entry;
        }
    }

    private void SetModel(string id, JsonObject entry)
    {
        if (_models.TryAdd(id, entry))
        {
            _modelOrder.Add(id);
        }
        else
        {
            _models[id] = entry;
        }
    }

    private static void Overlay(JsonObject target, JsonObject overlay)
    {
        foreach ((string key, JsonNode? value) in overlay)
        {
            target[key] = value?.DeepClone();
        }
    }

    private static IEnumerable<JsonObject> Entries(JsonObject root, string name, string source)
    {
        switch (root[name])
        {
            case null:
                yield break;
            case JsonArray array:
                for (int i = 0; i < array.Count; i++)
                {
                    yield return array[i] as JsonObject ?? throw new ModelCatalogException($"{source}: {name}[{i}] must be an object.");
                }

                break;
            default:
                throw new ModelCatalogException($"{source}: '{name}' must be an array.");
        }
    }

    private static string ModelId(JsonObject entry, string source)
    {
        string? id = OptionalText(entry, "id", $"{source}: models[]");
        if (id is null && OptionalText(entry, "provider", $"{source}: models[]") is { } provider && OptionalText(entry, "name", $"{source}: models[]") is { } name)
        {
            id = ModelIds.Join(provider, name);
        }

        if (!ModelIds.TrySplit(id, out string? p, out string? n))
        {
            throw new ModelCatalogException($"{source}: model id '{id}' must have the form 'provider/name'.");
        }

        return ModelIds.Join(p, n);
    }

    private static CatalogModel ToModel(string id, JsonObject entry, string source)
    {
        string where = $"{source}: model '{id}'";
        ModelIds.TrySplit(id, out string? provider, out string? name);
        bool completion = OptionalBool(entry, "supports_completion", where) ?? false;
        bool embeddings = OptionalBool(entry, "supports_embeddings", where) ?? false;
        decimal input = OptionalPrice(entry, "input_price_per_million", where) ?? throw new ModelCatalogException($"{where}: 'input_price_per_million' is required.");
        decimal? output = OptionalPrice(entry, "output_price_per_million", where);
        if (output is null && completion)
        {
            throw new ModelCatalogException($"{where}: 'output_price_per_million' is required for a completion model.");
        }

        return new CatalogModel
        {
            Id = id,
            Provider = provider!,
            Name = name!,
            DisplayName = OptionalText(entry, "display_name", where) ?? name!,
            Prices = new ModelPrices(
                input,
                output ?? 0m,
                OptionalPrice(entry, "cached_input_price_per_million", where),
                OptionalPrice(entry, "cache_write_price_per_million", where),
                OptionalPrice(entry, "cache_storage_price_per_million_token_hours", where)),
            SupportsCompletion = completion,
            SupportsEmbeddings = embeddings,
            ContextWindow = OptionalInt(entry, "context_window", where),
            MaxOutputTokens = OptionalInt(entry, "max_output_tokens", where),
        };
    }

    private static CatalogProvider ToProvider(string name, JsonObject entry, string source)
    {
        string where = $"{source}: provider '{name}'";
        return new CatalogProvider
        {
            Name = name,
            DisplayName = OptionalText(entry, "display_name", where) ?? name,
            ApiEndpoint = OptionalText(entry, "api_endpoint", where),
            SupportsCompletion = OptionalBool(entry, "supports_completion", where) ?? false,
            SupportsEmbeddings = OptionalBool(entry, "supports_embeddings", where) ?? false,
            SupportsStreaming = OptionalBool(entry, "supports_streaming", where) ?? false,
            RequiresApiKey = OptionalBool(entry, "requires_api_key", where) ?? true,
            Local = OptionalBool(entry, "local", where) ?? false,
        };
    }

    private static string RequiredText(JsonObject entry, string name, string where) =>
        OptionalText(entry, name, where) ?? throw new ModelCatalogException($"{where}: '{name}' is required.");

    private static string? OptionalText(JsonObject entry, string name, string where) => entry[name] switch
    {
        null => null,
        JsonValue value when value.GetValueKind() == JsonValueKind.String => value.GetValue<string>() is { Length: > 0 } text ? text : null,
        _ => throw new ModelCatalogException($"{where}: '{name}' must be a string."),
    };

    private static bool? OptionalBool(JsonObject entry, string name, string where) => entry[name] switch
    {
        null => null,
        JsonValue value when value.GetValueKind() == JsonValueKind.True => true,
        JsonValue value when value.GetValueKind() == JsonValueKind.False => false,
        _ => throw new ModelCatalogException($"{where}: '{name}' must be true or false."),
    };

    private static int? OptionalInt(JsonObject entry, string name, string where) => entry[name] switch
    {
        null => null,
        JsonValue value when value.GetValueKind() == JsonValueKind.Number && value.TryGetValue(out int number) && number > 0 => number,
        JsonValue value when value.GetValueKind() == JsonValueKind.Number && value.TryGetValue(out long big) && big > int.MaxValue => int.MaxValue,
        _ => throw new ModelCatalogException($"{where}: '{name}' must be a positive integer."),
    };

    /// <summary>A price given as a JSON number or a decimal string, read without going through binary floating point.</summary>
    private static decimal? OptionalPrice(JsonObject entry, string name, string where)
    {
        decimal price;
        switch (entry[name])
        {
            case null:
                return null;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String
                && decimal.TryParse(value.GetValue<string>(), NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out price):
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.Number
                && decimal.TryParse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out price):
                break;
            default:
                throw new ModelCatalogException($"{where}: '{name}' must be a non-negative decimal (a number or a string such as \"2.50\").");
        }

        return price >= 0 ? price : throw new ModelCatalogException($"{where}: '{name}' must not be negative.");
    }
}
