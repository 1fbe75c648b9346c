using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Core.Tests.Templates;

/// <summary>Writes JSON so that integers and floats differ ("int:2" vs "float:2") while the number's spelling
/// does not ("1e+20" and "1E+20" are the same float). Key order is kept, so it is compared too.</summary>
internal static class JsonCanonical
{
    public static string Write(JsonNode? node)
    {
        var sb = new StringBuilder();
        Append(sb, node);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, JsonNode? node)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject obj:
                sb.Append('{');
                foreach (var (key, item) in obj)
                {
                    sb.Append(JsonSerializer.Serialize(key)).Append(':');
                    Append(sb, item);
                    sb.Append(',');
                }
                sb.Append('}');
                break;
            case JsonArray array:
                sb.Append('[');
                foreach (var item in array)
                {
                    Append(sb, item);
                    sb.Append(',');
                }
                sb.Append(']');
                break;
            default:
                var value = node.AsValue();
                switch (value.GetValueKind())
                {
                    case JsonValueKind.Number:
                        var raw = value.ToJsonString();
                        sb.Append(raw.IndexOfAny(['.', 'e', 'E']) >= 0
                            ? "float:" + double.Parse(raw, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture)
                            : "int:" + raw);
                        break;
                    case JsonValueKind.String:
                        sb.Append(JsonSerializer.Serialize(value.GetValue<string>()));
                        break;
                    default:
                        sb.Append(value.ToJsonString());
                        break;
                }
                break;
        }
    }
}
