using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Core.Templates;

/// <summary>
/// Entry point of the template language (docs/workflow-format.md, Templates): resolves parameter strings, trees and conditions against a scope
/// of JSON values. Parsed templates are cached because the same strings are resolved for every run.
/// </summary>
public static class TemplateEvaluator
{
    private const int MaxCachedTemplates = 10_000;

    private static readonly ConcurrentDictionary<string, CompiledTemplate> Cache = new(StringComparer.Ordinal);
    private static int _cachedCount;

    /// <summary>
    /// A whole-value expression <c>"{{ expr }}"</c> gives a typed result (null is JSON null); any other
    /// string with <c>{{ }}</c> or <c>{% %}</c> renders to a string; any other string is returned unchanged.
    /// The result is always a new node. Throws <see cref="TemplateException"/> on syntax errors, undefined values
    /// and filter errors.
    /// </summary>
    /// <remarks>Evaluates under <see cref="TemplateLimits.Default"/>; a breach throws <see cref="TemplateLimitException"/>.</remarks>
    public static JsonNode? Resolve(string text, IReadOnlyDictionary<string, JsonNode?> scope) =>
        Resolve(text, scope, TemplateLimits.Default);

    /// <summary>As <see cref="Resolve(string, IReadOnlyDictionary{string, JsonNode?})"/> under the given limits.</summary>
    public static JsonNode? Resolve(string text, IReadOnlyDictionary<string, JsonNode?> scope, TemplateLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        return Resolve(text, scope, new TemplateBudget(limits));
    }

    internal static JsonNode? Resolve(string text, IReadOnlyDictionary<string, JsonNode?> scope, TemplateBudget budget)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(scope);
        return ContainsTemplate(text) ? GetCompiled(text).Evaluate(scope, budget) : JsonValue.Create(text);
    }

    /// <summary>Resolves every string leaf of a JSON tree (keys are never templated) into a new tree. All leaves
    /// share one budget of <see cref="TemplateLimits.Default"/>.</summary>
    public static JsonNode? ResolveTree(JsonNode? node, IReadOnlyDictionary<string, JsonNode?> scope) =>
        ResolveTree(node, scope, TemplateLimits.Default);

    public static JsonNode? ResolveTree(JsonNode? node, IReadOnlyDictionary<string, JsonNode?> scope, TemplateLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        return ResolveTree(node, scope, new TemplateBudget(limits));
    }

    /// <summary>A failing leaf's <see cref="TemplateException.Location"/> is its path in the tree, built only on failure.</summary>
    internal static JsonNode? ResolveTree(JsonNode? node, IReadOnlyDictionary<string, JsonNode?> scope, TemplateBudget budget)
    {
        ArgumentNullException.ThrowIfNull(scope);
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                var resolvedObject = new JsonObject(obj.Options);
                foreach (var (key, value) in obj)
                {
                    try
                    {
                        resolvedObject[key] = ResolveTree(value, scope, budget);
                    }
                    catch (TemplateException e)
                    {
                        e.Location = e.Location == null ? key : e.Location[0] == '[' ? key + e.Location : $"{key}.{e.Location}";
                        throw;
                    }
                }
                return resolvedObject;
            case JsonArray array:
                var resolvedArray = new JsonArray(array.Options);
                for (var i = 0; i < array.Count; i++)
                {
                    try
                    {
                        resolvedArray.Add(ResolveTree(array[i], scope, budget));
                    }
                    catch (TemplateException e)
                    {
                        e.Location = e.Location == null ? $"[{i}]" : e.Location[0] == '[' ? $"[{i}]{e.Location}" : $"[{i}].{e.Location}";
                        throw;
                    }
                }
                return resolvedArray;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String && value.TryGetValue<string>(out var text):
                return Resolve(text, scope, budget);
            default:
                return node.DeepClone();
        }
    }

    /// <summary>Conditions (docs/workflow-format.md, Templates): booleans are themselves, "true"/"false" in any case are booleans, other strings are true
    /// unless empty, numbers unless 0, null is false, arrays and objects are true even when empty.</summary>
    public static bool IsTruthy(JsonNode? value)
    {
        if (value is not JsonValue scalar) return value != null;
        return Values.FromNode(scalar) switch
        {
            bool b => b,
            string s when s.Equals("true", StringComparison.OrdinalIgnoreCase) => true,
            string s when s.Equals("false", StringComparison.OrdinalIgnoreCase) => false,
            string s => s.Length > 0,
            long l => l != 0,
            double d => d != 0,
            null => false,
            _ => true,
        };
    }

    /// <summary>True when the string contains "{{" or "{%" and so needs resolving.</summary>
    public static bool ContainsTemplate(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var rest = text.AsSpan();
        int brace;
        while ((brace = rest.IndexOf('{')) >= 0 && brace + 1 < rest.Length)
        {
            if (rest[brace + 1] is '{' or '%') return true;
            rest = rest[(brace + 1)..];
        }
        return false;
    }

    /// <summary>Parses without evaluating: null when the syntax is fine, otherwise the error message.</summary>
    public static string? FindSyntaxError(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return ContainsTemplate(text) ? GetCompiled(text).Error : null;
    }

    private static CompiledTemplate GetCompiled(string text)
    {
        if (Cache.TryGetValue(text, out var compiled)) return compiled;
        compiled = CompiledTemplate.Compile(text);
        // A rough bound is enough: definitions hold a limited set of strings, so clearing is rare.
        if (Interlocked.Increment(ref _cachedCount) > MaxCachedTemplates)
        {
            Cache.Clear();
            Interlocked.Exchange(ref _cachedCount, 0);
        }
        Cache.TryAdd(text, compiled);
        return compiled;
    }
}
