using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>The supported providers by name, and the reading of model ids and API keys from parameters.</summary>
internal sealed class LlmProviders
{
    private readonly Dictionary<string, LlmProvider> _providers;
    private readonly AiSettings _settings;

    public LlmProviders(AiSettings settings)
    {
        _settings = settings;
        _providers = new LlmProvider[]
        {
            new OpenAiProvider(),
            new AnthropicProvider(settings.AnthropicVersion),
            new GoogleProvider(),
            new OllamaProvider(),
        }.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Reads <c>models</c> (a non-empty list) or <c>model</c>; every id must name a supported provider.</summary>
    public IReadOnlyList<ModelTarget> ReadModels(JsonObject parameters, bool allowList)
    {
        var ids = new List<string>();
        // The reference spells a fallback list as `model: [..]`; Spindle's `models: [..]` is the same list.
        string listName = parameters["model"] is JsonArray ? "model" : "models";
        if (allowList && StdParameters.OptionalArray(parameters, listName) is { } list)
        {
            for (int i = 0; i < list.Count; i++)
            {
                ids.Add(StdParameters.ScalarText(list[i], $"{listName}[{i}]") is { Length: > 0 } id
                    ? id
                    : throw StdParameters.Invalid($"{listName}[{i}] must be a model id such as \"openai/gpt-4o-mini\""));
            }

            if (ids.Count == 0)
            {
                throw StdParameters.Invalid($"parameter '{listName}' must list at least one model");
            }
        }
        else if (StdParameters.OptionalString(parameters, "model") is { Length: > 0 } single)
        {
            ids.Add(single);
        }
        else
        {
            throw StdParameters.Invalid(allowList
                ? "parameter 'model' (a model id such as \"openai/gpt-4o-mini\") or 'models' (a fallback list) is required"
                : "parameter 'model' (a model id such as \"openai/text-embedding-3-small\") is required");
        }

        return [.. ids.Select(Resolve)];
    }

    /// <summary>
    /// The endpoint of <paramref name="provider"/>: the configured base URL and key, where an <c>api_key</c> parameter
    /// (a string for every provider, or an object by provider name) wins. Such a parameter arrives already resolved
    /// from a <c>{{SECRET.…}}</c> template; the documented way is worker configuration.
    /// </summary>
    public ProviderEndpoint Endpoint(LlmProvider provider, JsonObject parameters)
    {
        string? key = parameters["api_key"] switch
        {
            null => null,
            JsonObject byProvider => StdParameters.OptionalString(byProvider, provider.Name),
            _ => StdParameters.OptionalString(parameters, "api_key"),
        };
        return new ProviderEndpoint(_settings.GetBaseUrl(provider.Name), string.IsNullOrWhiteSpace(key) ? _settings.GetApiKey(provider.Name) : key.Trim());
    }

    /// <summary>The environment variable that holds the key of <paramref name="provider"/>, for error messages.</summary>
    public static string KeyVariable(LlmProvider provider) => $"SPINDLE_{provider.Name.ToUpperInvariant()}_API_KEY";

    private ModelTarget Resolve(string id)
    {
        if (!ModelIds.TrySplit(id, out string? provider, out string? name))
        {
            throw StdParameters.Invalid($"model '{id}' must have the form 'provider/name', e.g. \"openai/gpt-4o-mini\"");
        }

        return _providers.TryGetValue(provider, out LlmProvider? wire)
            ? new ModelTarget(ModelIds.Join(provider, name), wire, name)
            : throw StdParameters.Invalid($"model '{id}': unknown provider '{provider}' (supported: {string.Join(", ", AiSettings.SupportedProviders)})");
    }
}
