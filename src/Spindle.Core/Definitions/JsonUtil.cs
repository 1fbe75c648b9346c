using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

/// <summary>
/// Small helpers over <see cref="JsonNode"/> trees. Inside Spindle.Core.Definitions every number is held as a
/// <c>JsonValue</c> of <see cref="long"/> (integers) or <see cref="double"/> (everything else); <see cref="Canonicalize"/>
/// brings trees from other sources (e.g. <see cref="JsonNode.Parse(string, JsonNodeOptions?, JsonDocumentOptions)"/>) into that shape.
/// </summary>
internal static class JsonUtil
{
    private const double MaxExactInteger = 9007199254740992d; // 2^53

    public static bool IsString(JsonNode? node, out string value)
    {
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String)
        {
            value = v.GetValue<string>();
            return true;
        }
        value = "";
        return false;
    }

    public static bool IsBool(JsonNode? node, out bool value)
    {
        if (node is JsonValue v)
        {
            var kind = v.GetValueKind();
            if (kind is JsonValueKind.True or JsonValueKind.False)
            {
                value = kind == JsonValueKind.True;
                return true;
            }
        }
        value = false;
        return false;
    }

    public static bool IsNumber(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.Number;

    /// <summary>An exact integer: a long-backed value, or a float with no fractional part within ±2^53.</summary>
    public static bool TryGetInteger(JsonNode? node, out long value)
    {
        value = 0;
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number)
        {
            return false;
        }
        if (v.TryGetValue(out long l))
        {
            value = l;
            return true;
        }
        if (v.TryGetValue(out int i))
        {
            value = i;
            return true;
        }
        if (v.TryGetValue(out JsonElement e))
        {
            if (e.TryGetInt64(out l))
            {
                value = l;
                return true;
            }
            return IntegralDouble(e.GetDouble(), out value);
        }
        return TryGetDouble(node, out var d) && IntegralDouble(d, out value);
    }

    public static bool TryGetDouble(JsonNode? node, out double value)
    {
        value = 0;
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number)
        {
            return false;
        }
        if (v.TryGetValue(out double d))
        {
            value = d;
            return true;
        }
        if (v.TryGetValue(out long l))
        {
            value = l;
            return true;
        }
        if (v.TryGetValue(out int i))
        {
            value = i;
            return true;
        }
        if (v.TryGetValue(out decimal m))
        {
            value = (double)m;
            return true;
        }
        if (v.TryGetValue(out float f))
        {
            value = f;
            return true;
        }
        if (v.TryGetValue(out JsonElement e))
        {
            value = e.GetDouble();
            return true;
        }
        return false;
    }

    private static bool IntegralDouble(double d, out long value)
    {
        if (double.IsFinite(d) && Math.Floor(d) == d && Math.Abs(d) <= MaxExactInteger)
        {
            value = (long)d;
            return true;
        }
        value = 0;
        return false;
    }

    /// <summary>A number as it should be written: integer text when exactly integral (|x| ≤ 2^53), else round-trip double.</summary>
    public static JsonValue Number(double d) => IntegralDouble(d, out var l) ? JsonValue.Create(l) : JsonValue.Create(d);

    /// <summary>Deep copy in which every number is a long or double value and every string a string value.</summary>
    public static JsonNode? Canonicalize(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject o:
                var copy = new JsonObject();
                foreach (var (k, v) in o)
                {
                    copy[k] = Canonicalize(v);
                }
                return copy;
            case JsonArray a:
                var arr = new JsonArray();
                foreach (var item in a)
                {
                    arr.Add(Canonicalize(item));
                }
                return arr;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String:
                        return JsonValue.Create(v.GetValue<string>());
                    case JsonValueKind.True:
                        return JsonValue.Create(true);
                    case JsonValueKind.False:
                        return JsonValue.Create(false);
                    case JsonValueKind.Number:
                        if (v.TryGetValue(out long l))
                        {
                            return JsonValue.Create(l);
                        }
                        if (v.TryGetValue(out JsonElement e) && e.TryGetInt64(out l))
                        {
                            return JsonValue.Create(l);
                        }
                        if (v.TryGetValue(out int i))
                        {
                            return JsonValue.Create((long)i);
                        }
                        TryGetDouble(v, out var d);
                        return JsonValue.Create(d);
                    default:
                        return null;
                }
            default:
                return node.DeepClone();
        }
    }

    /// <summary>A short description of a value for error messages: <c>a string ("30")</c>, <c>the number 1.5</c>, <c>a list</c>.</summary>
    public static string Describe(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return "null";
            case JsonObject:
                return "a mapping";
            case JsonArray:
                return "a list";
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String:
                        var s = v.GetValue<string>();
                        return s.Length > 60 ? $"a string (\"{s[..57]}...\")" : $"a string (\"{s}\")";
                    case JsonValueKind.True:
                        return "the boolean true";
                    case JsonValueKind.False:
                        return "the boolean false";
                    case JsonValueKind.Number:
                        if (TryGetInteger(v, out var l) && v.TryGetValue(out long _))
                        {
                            return "the integer " + l.ToString(CultureInfo.InvariantCulture);
                        }
                        TryGetDouble(v, out var d);
                        return "the number " + d.ToString("R", CultureInfo.InvariantCulture);
                    default:
                        return "a value";
                }
            default:
                return "a value";
        }
    }
}
