using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

// Budgets (workflow and activity level) and result caching.
internal sealed partial class DefinitionNormalizer
{
    private JsonObject? Budget(JsonNode node, string path, bool limitRequired)
    {
        if (node is not JsonObject obj)
        {
            Error(path, $"'budget' must be a mapping such as {{limit: \"0.50\", action: abort}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, BudgetKeys);
        var result = new JsonObject();
        var limit = Money(obj["limit"], path + ".limit");
        var limitUsd = Money(obj["limit_usd"], path + ".limit_usd");
        if (limit is not null && limitUsd is not null && limit != limitUsd)
        {
            Error(path + ".limit", $"'limit' ({limit}) and its alias 'limit_usd' ({limitUsd}) differ; give only one of them.");
        }
        else if ((limit ?? limitUsd) is { } l)
        {
            result["limit"] = l;
        }
        else if (limitRequired && obj["limit"] is null && obj["limit_usd"] is null)
        {
            Error(path + ".limit", "'budget.limit' is required: give the limit in USD, e.g. budget: {limit: \"0.50\"}.");
        }
        if (Enum(obj["action"], path + ".action", ["abort", "continue"]) is { } action)
        {
            result["action"] = action;
        }
        return result;
    }

    private void Cache(JsonObject settings, string path, string field, JsonObject result)
    {
        bool? enabled = null;
        long? objectTtl = null;
        JsonNode? objectKey = null;
        var cache = settings["cache"];
        switch (cache)
        {
            case null:
                break;
            case JsonValue v when JsonUtil.IsBool(v, out var b):
                enabled = b;
                break;
            case JsonObject o:
                WarnUnknown(o, path + ".cache", CacheKeys);
                enabled = o["enabled"] is null ? true : Bool(o["enabled"], path + ".cache.enabled");
                var ttlSeconds = Integer(o["ttl_seconds"], path + ".cache.ttl_seconds", 1);
                var ttl = Integer(o["ttl"], path + ".cache.ttl", 1);
                if (ttlSeconds is not null && ttl is not null && ttlSeconds != ttl)
                {
                    Error(field, $"Conflicting cache TTLs: cache.ttl_seconds is {ttlSeconds} but its alias cache.ttl is {ttl}; give only one.");
                }
                objectTtl = ttlSeconds ?? ttl;
                objectKey = CacheKey(o["key"], path + ".cache.key");
                break;
            default:
                Error(path + ".cache", $"'cache' must be true/false or a mapping {{enabled, ttl_seconds, key}}, got {JsonUtil.Describe(cache)}.");
                break;
        }
        var cacheTtl = Integer(settings["cache_ttl"], path + ".cache_ttl", 1);
        var cacheKey = CacheKey(settings["cache_key"], path + ".cache_key");
        if (objectTtl is not null && cacheTtl is not null && objectTtl != cacheTtl)
        {
            Error(field, $"Conflicting cache TTLs: the cache object gives {objectTtl} but cache_ttl is {cacheTtl}; give the TTL once.");
        }
        if (objectKey is not null && cacheKey is not null && !JsonNode.DeepEquals(objectKey, cacheKey))
        {
            Error(field, "Conflicting cache keys: cache.key and cache_key differ; give the key once.");
        }
        if (enabled is not null)
        {
            result["cache"] = enabled.Value;
        }
        if ((objectTtl ?? cacheTtl) is { } t)
        {
            result["cache_ttl"] = t;
        }
        if ((objectKey ?? cacheKey) is { } k)
        {
            result["cache_key"] = k.DeepClone();
        }
    }

    private JsonNode? CacheKey(JsonNode? node, string path)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonValue v when JsonUtil.IsString(v, out var s):
                return JsonValue.Create(s);
            case JsonArray arr when arr.All(x => JsonUtil.IsString(x, out _)):
                return arr.DeepClone();
            default:
                Error(path, $"A cache key must be a string template or a list of strings, got {JsonUtil.Describe(node)}.");
                return null;
        }
    }
}
