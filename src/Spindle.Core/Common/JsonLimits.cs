using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Core.Common;

/// <summary>
/// The one place that says how deep JSON may nest. User documents (a workflow's input, an activity's output, signal
/// data, a definition) are limited to <see cref="MaxDocumentDepth"/> at the edge; everything read back from the store
/// or from our own API uses <see cref="ReadMaxDepth"/>, which leaves room for the levels the store and the API wrap
/// around an accepted document (an input inside an event payload inside a list of events...).
/// </summary>
public static class JsonLimits
{
    /// <summary>Nesting levels (objects and arrays) a user document may have; <c>{}</c> is one level.</summary>
    public const int MaxDocumentDepth = 64;

    /// <summary>Depth for reading JSON we wrote ourselves: an accepted document plus any wrapping.</summary>
    public const int ReadMaxDepth = 256;

    /// <summary>Options for parsing stored or server-produced JSON.</summary>
    public static JsonDocumentOptions ReadOptions => new() { MaxDepth = ReadMaxDepth };

    /// <summary>Parses JSON that the server stored or produced (trusted, already within the limits when accepted).</summary>
    public static JsonNode? ParseStored(string json) => JsonNode.Parse(json, documentOptions: ReadOptions);

    /// <summary>The nesting depth of a value: 0 for a scalar or null, 1 for <c>{}</c> or <c>[1]</c>. Iterative.</summary>
    public static int Depth(JsonNode? node)
    {
        if (node is not (JsonObject or JsonArray))
        {
            return 0;
        }
        var max = 0;
        var stack = new Stack<(JsonNode Node, int Level)>();
        stack.Push((node, 1));
        while (stack.Count > 0)
        {
            var (current, level) = stack.Pop();
            max = Math.Max(max, level);
            IEnumerable<JsonNode?> children = current switch
            {
                JsonObject o => o.Select(p => p.Value),
                JsonArray a => a,
                _ => [],
            };
            foreach (var child in children)
            {
                if (child is JsonObject or JsonArray)
                {
                    stack.Push((child, level + 1));
                }
            }
        }
        return max;
    }
}
