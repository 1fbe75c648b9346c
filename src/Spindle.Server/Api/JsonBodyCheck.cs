using System.Text.Json;
using Spindle.Core.Common;

namespace Spindle.Server.Api;

/// <summary>
/// One streaming pass over a JSON body before it becomes a tree: every top-level field (a workflow's input, an
/// activity's output, signal data...) may nest at most <see cref="JsonLimits.MaxDocumentDepth"/> levels, and no
/// object may repeat a key. Both used to be accepted and then broke every later read of the workflow (or gave a 500
/// when the tree was first enumerated); here they get a 422 naming the field.
/// </summary>
public static class JsonBodyCheck
{
    /// <summary>A violation: the field it concerns (a path such as <c>input.a[2].b</c>) and what is wrong.</summary>
    public sealed record Problem(string Field, string Message);

    private sealed class Frame(string path, bool isObject)
    {
        public string Path { get; } = path;
        public HashSet<string>? Keys { get; } = isObject ? new HashSet<string>(StringComparer.Ordinal) : null;
        public string Pending { get; set; } = "";
        public int Index { get; set; } = -1;
    }

    /// <returns>The first problem, or null when the body is within the limits.</returns>
    /// <exception cref="JsonException">The body is not well-formed JSON.</exception>
    public static Problem? Check(ReadOnlySpan<byte> utf8)
    {
        // The reader itself never sees more than one level beyond the limit: we stop there.
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = JsonLimits.ReadMaxDepth });
        var frames = new Stack<Frame>();
        var rootIsObject = false;
        var topField = "body";
        while (reader.Read())
        {
            var token = reader.TokenType;
            if (token is JsonTokenType.EndObject or JsonTokenType.EndArray)
            {
                frames.Pop();
                continue;
            }
            if (token == JsonTokenType.PropertyName)
            {
                var frame = frames.Peek();
                var name = NameOf(ref reader);
                if (!frame.Keys!.Add(name))
                {
                    var field = Join(frame.Path, name);
                    return new Problem(field, $"duplicate key '{name}'");
                }
                frame.Pending = name;
                if (frames.Count == 1)
                {
                    topField = name;
                }
                continue;
            }
            // A value: where it sits, and for objects and arrays how deep.
            var path = "";
            if (frames.TryPeek(out var parent))
            {
                if (parent.Keys is not null)
                {
                    path = Join(parent.Path, parent.Pending);
                }
                else
                {
                    parent.Index++;
                    path = $"{parent.Path}[{parent.Index}]";
                }
            }
            if (token is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                if (frames.Count == 0)
                {
                    rootIsObject = token == JsonTokenType.StartObject;
                }
                // Levels within the field: the body's own object is not part of the document it carries.
                var level = rootIsObject ? frames.Count : frames.Count + 1;
                if (level > JsonLimits.MaxDocumentDepth)
                {
                    return new Problem(rootIsObject ? topField : "body", $"nested deeper than {JsonLimits.MaxDocumentDepth} levels");
                }
                frames.Push(new Frame(path, token == JsonTokenType.StartObject));
            }
        }
        return null;
    }

    /// <summary>A name that is not valid UTF-16 (a lone surrogate escape) is compared by its raw text here; the
    /// Unicode check after parsing refuses it with a 400 that says where.</summary>
    private static string NameOf(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            return "\u0000raw:" + System.Text.Encoding.UTF8.GetString(reader.ValueSpan);
        }
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";
}
