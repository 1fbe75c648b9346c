using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

/// <summary>
/// Canonical JSON (docs/workflow-format.md): compact, object keys sorted by Unicode code point, recursively.
/// Numbers that are exactly integral (|x| ≤ 2^53) are written as integers, so <c>2</c> and <c>2.0</c> are equal;
/// other numbers use the shortest round-trip form. Strings use relaxed escaping (only what JSON requires,
/// plus characters outside the basic multilingual plane as <c>\uXXXX</c> pairs).
/// </summary>
public static class CanonicalJson
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    public static string Serialize(JsonNode? node) => Encoding.UTF8.GetString(SerializeToUtf8Bytes(node));

    public static byte[] SerializeToUtf8Bytes(JsonNode? node)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            Write(writer, node);
        }
        return buffer.ToArray();
    }

    /// <summary>Lower-case hex SHA-256 of the canonical JSON.</summary>
    public static string Sha256Hex(JsonNode? node) =>
        Convert.ToHexStringLower(SHA256.HashData(SerializeToUtf8Bytes(node)));

    private static void Write(Utf8JsonWriter w, JsonNode? node)
    {
        switch (node)
        {
            case null:
                w.WriteNullValue();
                break;
            case JsonObject o:
                w.WriteStartObject();
                var props = new List<KeyValuePair<string, JsonNode?>>(o);
                props.Sort((a, b) => CompareCodePoints(a.Key, b.Key));
                foreach (var (k, v) in props)
                {
                    w.WritePropertyName(k);
                    Write(w, v);
                }
                w.WriteEndObject();
                break;
            case JsonArray a:
                w.WriteStartArray();
                foreach (var item in a)
                {
                    Write(w, item);
                }
                w.WriteEndArray();
                break;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String:
                        w.WriteStringValue(v.GetValue<string>());
                        break;
                    case JsonValueKind.True:
                        w.WriteBooleanValue(true);
                        break;
                    case JsonValueKind.False:
                        w.WriteBooleanValue(false);
                        break;
                    case JsonValueKind.Number:
                        if (JsonUtil.TryGetInteger(v, out var l))
                        {
                            w.WriteNumberValue(l);
                        }
                        else
                        {
                            JsonUtil.TryGetDouble(v, out var d);
                            w.WriteNumberValue(d);
                        }
                        break;
                    default:
                        w.WriteNullValue();
                        break;
                }
                break;
        }
    }

    /// <summary>Orders strings by Unicode code point (differs from UTF-16 ordinal order only around surrogates).</summary>
    public static int CompareCodePoints(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            int ca = char.IsSurrogatePair(a, i) ? char.ConvertToUtf32(a, i) : a[i];
            int cb = char.IsSurrogatePair(b, j) ? char.ConvertToUtf32(b, j) : b[j];
            if (ca != cb)
            {
                return ca < cb ? -1 : 1;
            }
            i += ca > 0xFFFF ? 2 : 1;
            j += cb > 0xFFFF ? 2 : 1;
        }
        return (a.Length - i).CompareTo(b.Length - j) switch
        {
            < 0 => -1,
            > 0 => 1,
            _ => 0,
        };
    }
}
