using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Map = System.Collections.Generic.OrderedDictionary<object, object?>;

namespace Spindle.Core.Templates;

/// <summary>
/// The runtime value model. A value is one of: null (none), <see cref="Undefined"/>, bool, long, double, string,
/// a scope container (<see cref="JsonArray"/>/<see cref="JsonObject"/>, read in place and never modified), a
/// template-made list (<see cref="List{T}"/>) or map (<see cref="Map"/>), or one of the helper objects
/// (<see cref="Namespace"/>, <see cref="LoopContext"/>, <see cref="GroupTuple"/>).
/// Scope containers are not converted up front because a template usually reads a few fields of large outputs.
/// </summary>
internal static class Values
{
    public static Map NewMap(int capacity = 0) => new(capacity, PyComparer.Instance);

    public static object? FromNode(JsonNode? node) => node switch
    {
        null => null,
        JsonValue value => FromJsonValue(value),
        _ => node,
    };

    private static object? FromJsonValue(JsonValue value)
    {
        if (value.TryGetValue<JsonElement>(out var element))
        {
            // Reading a string out of parsed JSON copies it, each time it is looked up.
            if (element.ValueKind == JsonValueKind.String) TemplateBudget.Current.Text(JsonMarshal.GetRawUtf8Value(element).Length);
            return FromElement(element);
        }
        if (value.TryGetValue<string>(out var s)) return s;
        if (value.TryGetValue<bool>(out var b)) return b;
        if (value.TryGetValue<long>(out var l)) return l;
        if (value.TryGetValue<int>(out var i)) return (long)i;
        if (value.TryGetValue<double>(out var d)) return d;
        if (value.TryGetValue<decimal>(out var m)) return FromDecimal(m);
        // Any other CLR value (dates, small integer types, ...) is read through its JSON text.
        using var document = JsonDocument.Parse(value.ToJsonString(), JsonLimits.ReadOptions);
        return FromElement(document.RootElement);
    }

    private static object? FromElement(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetInt64(out var l) ? (object)l : element.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Object => JsonObject.Create(element),
        JsonValueKind.Array => JsonArray.Create(element),
        _ => null,
    };

    // A decimal written without a fractional part is an integer, as json.loads would read its text.
    private static object FromDecimal(decimal value) =>
        value.Scale == 0 && value is >= long.MinValue and <= long.MaxValue ? (object)(long)value : (double)value;

    /// <summary>Converts a result to a fresh JSON node. Numbers become element-backed values (as if parsed from
    /// JSON) so that callers can read them with any numeric type, and floats keep their ".0".</summary>
    public static JsonNode? ToNode(object? value, int depth = 0)
    {
        Printer.CheckDepth(depth);
        return value switch
        {
            null => null,
            bool b => JsonValue.Create(b),
            long l => JsonNode.Parse(l.ToString(CultureInfo.InvariantCulture)),
            double d when double.IsFinite(d) => JsonNode.Parse(Printer.FormatFloat(d)),
            double => throw TemplateErrors.Runtime($"the number {Printer.FormatFloat((double)value)} cannot be represented in JSON"),
            // The same string may sit in a result many times; each is written out when the result is stored.
            string s => JsonValue.Create(Charged(s)),
            JsonNode node => ChargedClone(node, depth),
            List<object?> list => ToArray(list, depth),
            Map map => ToObject(map, depth),
            Namespace ns => ToObject(ns.Attributes, depth),
            GroupTuple group => ToArray(group.AsList(), depth),
            Undefined u => throw u.ToException(),
            _ => throw TemplateErrors.Runtime($"a {TypeName(value)} value cannot be converted to JSON"),
        };
    }

    // A container costs a few steps more than its items: copying it allocates its own storage.
    private const int ContainerSteps = 4;

    private static string Charged(string s)
    {
        TemplateBudget.Current.Text(s.Length);
        return s;
    }

    /// <summary>A copy of scope JSON in a result. The same large output may sit in a list many times
    /// (<c>[outputs.big] * 1000</c>), so each copy is paid for: steps per container and item, and the text of its
    /// strings.</summary>
    private static JsonNode ChargedClone(JsonNode node, int depth)
    {
        ChargeCopy(node, depth, TemplateBudget.Current);
        return node.DeepClone();
    }

    private static void ChargeCopy(JsonNode node, int depth, TemplateBudget budget)
    {
        Printer.CheckDepth(depth);
        switch (node)
        {
            case JsonObject obj:
                budget.Steps(ContainerSteps + obj.Count);
                foreach (var (_, child) in obj)
                {
                    if (child != null) ChargeCopy(child, depth + 1, budget);
                }
                break;
            case JsonArray array:
                budget.Steps(ContainerSteps + array.Count);
                foreach (var child in array)
                {
                    if (child != null) ChargeCopy(child, depth + 1, budget);
                }
                break;
            case JsonValue value when value.TryGetValue<JsonElement>(out var element):
                budget.Text(JsonMarshal.GetRawUtf8Value(element).Length);
                break;
            case JsonValue value when value.TryGetValue<string>(out var s):
                budget.Text(s.Length);
                break;
        }
    }

    private static JsonArray ToArray(List<object?> list, int depth)
    {
        TemplateBudget.Current.Steps(list.Count);
        var array = new JsonArray();
        foreach (var item in list) array.Add(ToNode(item, depth + 1));
        return array;
    }

    private static JsonObject ToObject<TKey>(OrderedDictionary<TKey, object?> map, int depth)
        where TKey : notnull
    {
        TemplateBudget.Current.Steps(map.Count);
        var obj = new JsonObject();
        foreach (var (key, item) in map) obj[key as string ?? Printer.ToStr(key)] = ToNode(item, depth + 1);
        return obj;
    }

    /// <summary>Throws when <paramref name="value"/> is undefined; every consumer of a value goes through this.</summary>
    public static object? Defined(object? value) => value is Undefined u ? throw u.ToException() : value;

    /// <summary>Jinja truthiness (used by if, and, or, not, select); conditions use their own rules (TemplateEvaluator) instead.</summary>
    public static bool IsTrue(object? value) => value switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        JsonArray array => array.Count > 0,
        JsonObject obj => obj.Count > 0,
        Map map => map.Count > 0,
        Undefined u => throw u.ToException(),
        _ => true,
    };

    public static string TypeName(object? value) => value switch
    {
        null => "none",
        bool => "boolean",
        long => "integer",
        double => "float",
        string => "string",
        List<object?> or JsonArray or GroupTuple => "list",
        Map or JsonObject => "map",
        Namespace => "namespace",
        LoopContext => "loop",
        Undefined => "undefined",
        _ => value.GetType().Name,
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static bool IsSequence(object? value) => value is List<object?> or JsonArray or GroupTuple;

    public static bool IsMap(object? value) => value is Map or JsonObject;

    /// <summary>The items a for loop or a collection filter sees: list items, string characters, map keys.
    /// The returned list may be shared and must not be modified. Each item is charged as a step: every caller
    /// goes on to visit or copy the items.</summary>
    public static IReadOnlyList<object?> Iterate(object? value)
    {
        switch (value)
        {
            case List<object?> list:
                TemplateBudget.Current.Steps(list.Count);
                return list;
            case JsonArray array:
                TemplateBudget.Current.Steps(array.Count);
                var items = new List<object?>(array.Count);
                foreach (var node in array) items.Add(FromNode(node));
                return items;
            case string s:
                return PyString.Characters(s);
            case JsonObject obj:
                TemplateBudget.Current.Steps(obj.Count);
                var keys = new List<object?>(obj.Count);
                foreach (var pair in obj) keys.Add(pair.Key);
                return keys;
            case Map map:
                TemplateBudget.Current.Steps(map.Count);
                return [.. map.Keys];
            case GroupTuple group:
                return group.AsList();
            case Undefined u:
                throw u.ToException();
            default:
                throw TemplateErrors.Runtime($"a {TypeName(value)} value is not iterable");
        }
    }

    /// <summary>The key/value pairs of a map value; null when it is not a map.</summary>
    public static IEnumerable<KeyValuePair<object, object?>>? Entries(object? value)
    {
        var count = value switch
        {
            Map map => map.Count,
            JsonObject obj => obj.Count,
            Namespace ns => ns.Attributes.Count,
            _ => 0,
        };
        TemplateBudget.Current.Steps(count);
        return EntriesOf(value);
    }

    private static IEnumerable<KeyValuePair<object, object?>>? EntriesOf(object? value) => value switch
    {
        Map map => map,
        JsonObject obj => obj.Select(pair => new KeyValuePair<object, object?>(pair.Key, FromNode(pair.Value))),
        Namespace ns => ns.Attributes.Select(pair => new KeyValuePair<object, object?>(pair.Key, pair.Value)),
        _ => null,
    };

    public static long Length(object? value) => value switch
    {
        string s => PyString.Length(s),
        List<object?> list => list.Count,
        JsonArray array => array.Count,
        JsonObject obj => obj.Count,
        Map map => map.Count,
        GroupTuple => 2,
        Undefined u => throw u.ToException(),
        _ => throw TemplateErrors.Runtime($"a {TypeName(value)} value has no length"),
    };

    /// <summary><c>a.b</c>: map key, namespace attribute or loop property. False means undefined.</summary>
    public static bool TryGetAttribute(object? target, string name, out object? value)
    {
        switch (target)
        {
            case JsonObject obj when obj.TryGetPropertyValue(name, out var node):
                value = FromNode(node);
                return true;
            case Map map:
                return map.TryGetValue(name, out value);
            case Namespace ns:
                return ns.Attributes.TryGetValue(name, out value);
            case LoopContext loop:
                return loop.TryGetAttribute(name, out value);
            case GroupTuple group when name is "grouper" or "list":
                value = name == "grouper" ? group.Grouper : group.Items;
                return true;
            default:
                value = null;
                return false;
        }
    }

    /// <summary><c>a[key]</c>: list or string index (negative counts from the end), map key, or an attribute
    /// by name. False means undefined.</summary>
    public static bool TryGetItem(object? target, object? key, out object? value)
    {
        value = null;
        if (key is long index)
        {
            switch (target)
            {
                case List<object?> list when Normalize(ref index, list.Count):
                    value = list[(int)index];
                    return true;
                case JsonArray array when Normalize(ref index, array.Count):
                    value = FromNode(array[(int)index]);
                    return true;
                case GroupTuple group when Normalize(ref index, 2):
                    value = index == 0 ? group.Grouper : group.Items;
                    return true;
                case string s when PyString.IsSimple(s):
                    if (!Normalize(ref index, s.Length)) return false;
                    value = s[(int)index].ToString();
                    return true;
                case string s:
                    var chars = PyString.Characters(s);
                    if (!Normalize(ref index, chars.Count)) return false;
                    value = chars[(int)index];
                    return true;
            }
        }

        return target switch
        {
            Map map when key != null => map.TryGetValue(key, out value),
            // a[name] with a computed name: the name is hashed in full (a.b names are short and written in the template).
            JsonObject or Namespace or LoopContext or GroupTuple when key is string name => Hashed(name) && TryGetAttribute(target, name, out value),
            _ => false,
        };
    }

    private static bool Hashed(string name)
    {
        TemplateBudget.Current.Text(name.Length);
        return true;
    }

    private static bool Normalize(ref long index, int count)
    {
        if (index < 0) index += count;
        return index >= 0 && index < count;
    }

    /// <summary><c>a[start:stop:step]</c> with Python's rules. False (undefined) for values that cannot be sliced.</summary>
    public static bool TrySlice(object? target, object? start, object? stop, object? step, out object? value)
    {
        value = null;
        if (target is string s)
        {
            if (PyString.IsSimple(s))
            {
                // One char per character: slice the string itself instead of a list of one-char strings.
                var picked = SliceIndexes(s.Length, start, stop, step);
                if (SliceBound(step) is null or 1)
                {
                    var first = picked.FirstOrDefault(-1);
                    value = first < 0 ? "" : s.Substring(first, picked.Count());
                    return true;
                }
                value = new string([.. picked.Select(i => s[i])]);
                return true;
            }
            var chars = PyString.Characters(s);
            value = string.Concat(SliceIndexes(chars.Count, start, stop, step).Select(i => (string)chars[i]!));
            return true;
        }
        if (!IsSequence(target)) return false;
        var items = Iterate(target);
        value = SliceIndexes(items.Count, start, stop, step).Select(i => items[i]).ToList();
        return true;
    }

    private static IEnumerable<int> SliceIndexes(int count, object? startValue, object? stopValue, object? stepValue)
    {
        var step = SliceBound(stepValue) ?? 1;
        if (step == 0) throw TemplateErrors.Runtime("slice step cannot be zero");
        var (lower, upper) = step > 0 ? (0L, (long)count) : (-1L, count - 1L);
        var start = Clamp(SliceBound(startValue), step > 0 ? lower : upper);
        var stop = Clamp(SliceBound(stopValue), step > 0 ? upper : lower);
        for (var i = start; step > 0 ? i < stop : i > stop; i += step) yield return (int)i;

        long Clamp(long? bound, long fallback)
        {
            if (bound is not { } b) return fallback;
            if (b < 0) b += count;
            return Math.Clamp(b, lower, upper);
        }
    }

    private static long? SliceBound(object? value) => value switch
    {
        null => null,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw TemplateErrors.Runtime($"slice indices must be integers or none, not {TypeName(value)}"),
    };
}
