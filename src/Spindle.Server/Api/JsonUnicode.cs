using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Server.Api;

/// <summary>
/// Finds strings a JSON body cannot hand out: JSON text may escape a lone UTF-16 surrogate (<c>"\ud800"</c>), which
/// <see cref="JsonNode"/> accepts when parsing but throws on when the string is first read, wherever that happens
/// (a field read, a template, a store write). Checking the whole body once at the edge turns that into a 400.
/// </summary>
public static class JsonUnicode
{
    /// <returns>The JSON path of the first name or string that is not valid Unicode, or null when all are.</returns>
    public static string? FindInvalidString(JsonNode? node, string path = "$")
    {
        switch (node)
        {
            case JsonObject obj:
                List<KeyValuePair<string, JsonNode?>> members;
                try
                {
                    members = [.. obj];
                }
                catch (InvalidOperationException)
                {
                    return path + " (a property name)";
                }
                foreach (var (name, value) in members)
                {
                    if (FindInvalidString(value, path + "." + name) is { } found)
                    {
                        return found;
                    }
                }
                return null;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (FindInvalidString(array[i], $"{path}[{i}]") is { } found)
                    {
                        return found;
                    }
                }
                return null;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                try
                {
                    _ = value.GetValue<string>();
                    return null;
                }
                catch (InvalidOperationException)
                {
                    return path;
                }
            default:
                return null;
        }
    }
}
