using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

/// <summary>
/// Secrets are never stored: at enqueue, templates see <c>SECRET.name</c> as a placeholder (random per machine, so
/// no input or output can forge one); every parameter leaf that printed a secret is stored in display form
/// (<c>{{SECRET.name}}</c> in place of the value) plus a record of its JSON path and parts, literal text and secret
/// names. At hand-out (<see cref="Reveal"/>), each such leaf is rebuilt from its parts with the current values.
/// Because the parts are structural, text that merely looks like a placeholder or like <c>{{SECRET.x}}</c> in a
/// stored string never becomes a secret.
/// </summary>
/// <remarks>
/// Record format (one entry per leaf): <c>{"path": ["headers", "auth"] or with array indexes as numbers,
/// "parts": ["Bearer ", {"secret": "token"}]}</c>.
/// </remarks>
public sealed class SecretParameters
{
    public const string NotFoundCode = "SECRET_NOT_FOUND";

    private const char Open = '\u0002';
    private const char Close = '\u0003';

    private readonly IReadOnlyList<string> _names;
    private readonly string _nonce;
    private JsonObject? _placeholders;

    public SecretParameters(IReadOnlyDictionary<string, string> secrets)
    {
        _names = secrets.Keys.ToList();
        _nonce = _names.Count == 0 ? "" : Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
    }

    /// <summary>What <c>SECRET</c> is while parameters are resolved: each known name maps to its placeholder, so an
    /// unknown name stays undefined (TEMPLATE_ERROR, as for any undefined value).</summary>
    public JsonObject Placeholders
    {
        get
        {
            if (_placeholders is null)
            {
                _placeholders = new JsonObject();
                for (var i = 0; i < _names.Count; i++)
                {
                    _placeholders[_names[i]] = Placeholder(i);
                }
            }
            return _placeholders;
        }
    }

    private string Placeholder(int index) => $"{Open}{_nonce}#{index.ToString(CultureInfo.InvariantCulture)}{Close}";

    /// <summary>
    /// Replaces every placeholder in <paramref name="parameters"/> (resolved with <see cref="Placeholders"/>) by its
    /// display form, and returns the record of those leaves, or null when none printed a secret. Throws
    /// <see cref="TemplateException"/> when a placeholder was taken apart or used as a key (a template that computed
    /// with a secret; deploy validation refuses those).
    /// </summary>
    public JsonArray? Extract(JsonObject parameters)
    {
        if (_names.Count == 0)
        {
            return null;
        }
        JsonArray? record = null;
        Walk(parameters, [], ref record);
        return record;
    }

    private void Walk(JsonNode? node, List<JsonNode> path, ref JsonArray? record)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, _) in obj.ToList())
                {
                    if (key.Contains(_nonce, StringComparison.Ordinal))
                    {
                        throw Misuse();
                    }
                    path.Add(JsonValue.Create(key));
                    Walk(obj[key], path, ref record);
                    path.RemoveAt(path.Count - 1);
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    path.Add(JsonValue.Create(i));
                    Walk(array[i], path, ref record);
                    path.RemoveAt(path.Count - 1);
                }
                break;
            case JsonValue value when value.TryGetValue<string>(out var text) && text.Contains(_nonce, StringComparison.Ordinal):
                var (display, parts) = Split(text);
                record ??= [];
                record.Add(new JsonObject
                {
                    ["path"] = new JsonArray(path.Select(p => p.DeepClone()).ToArray()),
                    ["parts"] = parts,
                });
                value.ReplaceWith(JsonValue.Create(display));
                break;
        }
    }

    private (string Display, JsonArray Parts) Split(string text)
    {
        var display = new StringBuilder();
        var parts = new JsonArray();
        var prefix = Open + _nonce + "#";
        var at = 0;
        while (true)
        {
            var start = text.IndexOf(prefix, at, StringComparison.Ordinal);
            var literal = start < 0 ? text[at..] : text[at..start];
            if (literal.Contains(_nonce, StringComparison.Ordinal))
            {
                throw Misuse();
            }
            if (literal.Length > 0)
            {
                parts.Add(literal);
                display.Append(literal);
            }
            if (start < 0)
            {
                return (display.ToString(), parts);
            }
            var end = text.IndexOf(Close, start + prefix.Length);
            if (end < 0 || !int.TryParse(text.AsSpan(start + prefix.Length, end - start - prefix.Length), NumberStyles.None,
                    CultureInfo.InvariantCulture, out var index) || index >= _names.Count)
            {
                throw Misuse();
            }
            var name = _names[index];
            parts.Add(new JsonObject { ["secret"] = name });
            display.Append("{{SECRET.").Append(name).Append("}}");
            at = end + 1;
        }
    }

    private static TemplateException Misuse() =>
        new("a secret was computed with instead of printed as it is; only {{ SECRET.name }} may be used in parameters");

    /// <summary>The first secret named in <paramref name="record"/> that <paramref name="secrets"/> lacks, or null.</summary>
    public static string? FindMissing(JsonArray? record, IReadOnlyDictionary<string, string> secrets)
    {
        if (record is null)
        {
            return null;
        }
        foreach (var entry in record)
        {
            if (entry?["parts"] is not JsonArray parts)
            {
                continue;
            }
            foreach (var part in parts)
            {
                if (part is JsonObject secret && secret["secret"]?.GetValue<string>() is { } name && !secrets.ContainsKey(name))
                {
                    return name;
                }
            }
        }
        return null;
    }

    public static string NotFoundMessage(string name) =>
        $"secret '{name}' is not configured on the server (SPINDLE_SECRET_{name.ToUpperInvariant()}); it was when the activity was scheduled";

    /// <summary>
    /// The parameters a worker receives: a copy of <paramref name="stored"/> with each recorded leaf rebuilt from its
    /// parts and the current <paramref name="secrets"/>. False, with the name, when a secret is no longer configured.
    /// </summary>
    public static bool TryReveal(JsonObject stored, JsonArray? record, IReadOnlyDictionary<string, string> secrets,
        out JsonObject revealed, out string? missing)
    {
        missing = null;
        revealed = stored;
        if (record is null || record.Count == 0)
        {
            return true;
        }
        revealed = stored.DeepClone().AsObject();
        foreach (var entry in record)
        {
            if (entry?["path"] is not JsonArray path || path.Count == 0 || entry["parts"] is not JsonArray parts)
            {
                continue;
            }
            var text = new StringBuilder();
            foreach (var part in parts)
            {
                if (part is JsonObject secret)
                {
                    var name = secret["secret"]?.GetValue<string>() ?? "";
                    if (!secrets.TryGetValue(name, out var value))
                    {
                        missing = name;
                        return false;
                    }
                    text.Append(value);
                }
                else if (part is JsonValue literal && literal.TryGetValue<string>(out var s))
                {
                    text.Append(s);
                }
            }
            Set(revealed, path, text.ToString());
        }
        return true;
    }

    private static void Set(JsonObject root, JsonArray path, string value)
    {
        JsonNode? container = root;
        for (var i = 0; i < path.Count - 1; i++)
        {
            container = Step(container, path[i]);
            if (container is null)
            {
                return;
            }
        }
        switch (container, path[^1])
        {
            case (JsonObject obj, JsonValue key) when key.TryGetValue<string>(out var name) && obj.ContainsKey(name):
                obj[name] = value;
                break;
            case (JsonArray array, JsonValue index) when index.TryGetValue<int>(out var at) && at >= 0 && at < array.Count:
                array[at] = value;
                break;
        }
    }

    private static JsonNode? Step(JsonNode? node, JsonNode? key) => (node, key) switch
    {
        (JsonObject obj, JsonValue k) when k.TryGetValue<string>(out var name) => obj[name],
        (JsonArray array, JsonValue k) when k.TryGetValue<int>(out var at) && at >= 0 && at < array.Count => array[at],
        _ => null,
    };
}
