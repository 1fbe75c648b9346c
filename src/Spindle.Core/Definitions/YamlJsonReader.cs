using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Spindle.Core.Common;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Spindle.Core.Definitions;

/// <summary>
/// Reads YAML (and therefore JSON) into a <see cref="JsonNode"/> tree, keeping scalar types as YAML 1.2's core schema
/// resolves them: only PLAIN scalars are typed (<c>30</c> → integer, <c>1.5</c> → float, <c>true</c>/<c>false</c>,
/// <c>null</c>/<c>~</c>/empty → null); quoted, literal and folded scalars are strings. Explicit standard tags
/// (<c>!!str</c>, <c>!!int</c>, <c>!!float</c>, <c>!!bool</c>, <c>!!null</c>) are honoured; other tags are ignored.
/// YAML 1.1 spellings (<c>yes</c>, <c>on</c>, <c>1_000</c>) stay strings. <c>.inf</c> and <c>.nan</c> stay strings
/// because JSON cannot hold them. Merge keys (<c>&lt;&lt;: *anchor</c>) are applied; the mapping's own keys win. Integers beyond the 64-bit
/// range become floats.
/// </summary>
internal static partial class YamlJsonReader
{
    // The same limit as every JSON body: a definition is a user document like any other.
    private const int MaxDepth = JsonLimits.MaxDocumentDepth;
    private const int MaxNodes = 1_000_000;

    private const string TagStr = "tag:yaml.org,2002:str";
    private const string TagInt = "tag:yaml.org,2002:int";
    private const string TagFloat = "tag:yaml.org,2002:float";
    private const string TagBool = "tag:yaml.org,2002:bool";
    private const string TagNull = "tag:yaml.org,2002:null";

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex DecimalInt();

    [GeneratedRegex("^0o[0-7]+$")]
    private static partial Regex OctalInt();

    [GeneratedRegex("^0x[0-9a-fA-F]+$")]
    private static partial Regex HexInt();

    [GeneratedRegex("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex Float();

    /// <summary>Result of reading: the root value, or <c>Empty</c> when the stream holds no document.</summary>
    public readonly record struct ReadResult(bool Empty, JsonNode? Root);

    /// <exception cref="YamlException">Malformed YAML, several documents, or a structure JSON cannot hold;
    /// <see cref="YamlException.Start"/> gives the position.</exception>
    /// <remarks>
    /// Built iteratively from the parser's event stream (no recursion), so hostile nesting cannot overflow the
    /// stack; depth and total size (including alias expansion) are bounded.
    /// </remarks>
    public static ReadResult Read(string text)
    {
        var parser = new Parser(new StringReader(text));
        parser.Consume<StreamStart>();
        JsonNode? root = null;
        var documents = 0;
        while (!parser.TryConsume<StreamEnd>(out _))
        {
            var start = parser.Consume<DocumentStart>();
            if (++documents > 1)
            {
                throw new YamlException(start.Start, start.End,
                    "Expected a single YAML document, found several (remove the extra '---' separators).");
            }
            root = ReadDocument(parser);
            parser.Consume<DocumentEnd>();
        }
        return new ReadResult(documents == 0, root);
    }

    private abstract class Frame
    {
        public required AnchorName Anchor { get; init; }
        public int Size { get; set; } = 1;
    }

    private sealed class SequenceFrame : Frame
    {
        public JsonArray Items { get; } = [];
    }

    private sealed class MappingFrame : Frame
    {
        public List<(string Key, bool Merge, JsonNode? Value, Mark ValueStart, Mark ValueEnd)> Entries { get; } = [];
        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);
        public bool ExpectKey { get; set; } = true;
        public string PendingKey { get; set; } = "";
        public bool PendingMerge { get; set; }
    }

    private static JsonNode? ReadDocument(IParser parser)
    {
        var anchors = new Dictionary<string, (JsonNode? Node, int Size)>(StringComparer.Ordinal);
        var stack = new Stack<Frame>();
        var budget = MaxNodes;
        while (true)
        {
            var ev = parser.Consume<ParsingEvent>();
            var parent = stack.Count > 0 ? stack.Peek() : null;
            var keyExpected = parent is MappingFrame { ExpectKey: true };
            JsonNode? value;
            int size;
            switch (ev)
            {
                case Scalar scalar when keyExpected:
                {
                    var map = (MappingFrame)parent!;
                    var key = scalar.Value ?? "";
                    var merge = key == "<<" && scalar.Style is ScalarStyle.Plain or ScalarStyle.Any;
                    if (!merge && !map.Keys.Add(key))
                    {
                        throw new YamlException(scalar.Start, scalar.End, $"Duplicate key {key}");
                    }
                    if (!scalar.Anchor.IsEmpty)
                    {
                        anchors[scalar.Anchor.Value] = (JsonValue.Create(key), 1);
                    }
                    map.PendingKey = key;
                    map.PendingMerge = merge;
                    map.ExpectKey = false;
                    continue;
                }
                case Scalar scalar:
                    value = Scalar(scalar);
                    size = 1;
                    Register(anchors, scalar.Anchor, value, size);
                    break;
                case AnchorAlias alias:
                    if (!anchors.TryGetValue(alias.Value.Value, out var target))
                    {
                        throw new YamlException(alias.Start, alias.End,
                            $"Alias *{alias.Value.Value} refers to an unknown anchor (or to its own enclosing node).");
                    }
                    if (keyExpected)
                    {
                        if (!JsonUtil.IsString(target.Node, out _) && target.Node is not JsonValue)
                        {
                            throw new YamlException(alias.Start, alias.End, "Mapping keys must be strings, not lists or mappings.");
                        }
                        var map = (MappingFrame)parent!;
                        var key = target.Node?.ToString() ?? "";
                        if (!map.Keys.Add(key))
                        {
                            throw new YamlException(alias.Start, alias.End, $"Duplicate key {key}");
                        }
                        map.PendingKey = key;
                        map.PendingMerge = false;
                        map.ExpectKey = false;
                        continue;
                    }
                    // An alias copies its anchor's whole tree here, which may be deeper than where it was defined.
                    if (stack.Count + JsonLimits.Depth(target.Node) > MaxDepth)
                    {
                        throw new YamlException(alias.Start, alias.End, $"the document is nested deeper than {MaxDepth} levels");
                    }
                    value = target.Node?.DeepClone();
                    size = target.Size;
                    break;
                case SequenceStart start:
                    Open(stack, keyExpected, start, ref budget);
                    stack.Push(new SequenceFrame { Anchor = start.Anchor });
                    continue;
                case MappingStart start:
                    Open(stack, keyExpected, start, ref budget);
                    stack.Push(new MappingFrame { Anchor = start.Anchor });
                    continue;
                case SequenceEnd when parent is SequenceFrame seq:
                    stack.Pop();
                    value = seq.Items;
                    size = seq.Size;
                    Register(anchors, seq.Anchor, value, size);
                    break;
                case MappingEnd when parent is MappingFrame map:
                    stack.Pop();
                    value = BuildMapping(map);
                    size = map.Size;
                    Register(anchors, map.Anchor, value, size);
                    break;
                default:
                    throw new YamlException(ev.Start, ev.End, $"Unexpected YAML event {ev.GetType().Name}.");
            }
            budget -= size;
            if (budget < 0)
            {
                throw new YamlException(ev.Start, ev.End, $"Document expands to more than {MaxNodes} values (too many aliases?).");
            }
            switch (stack.Count > 0 ? stack.Peek() : null)
            {
                case null:
                    return value;
                case SequenceFrame seq:
                    seq.Items.Add(value);
                    seq.Size += size;
                    break;
                case MappingFrame map:
                    map.Entries.Add((map.PendingKey, map.PendingMerge, value, ev.Start, ev.End));
                    map.Size += size;
                    map.ExpectKey = true;
                    break;
            }
        }
    }

    private static void Open(Stack<Frame> stack, bool keyExpected, ParsingEvent start, ref int budget)
    {
        if (keyExpected)
        {
            throw new YamlException(start.Start, start.End, "Mapping keys must be strings, not lists or mappings.");
        }
        if (stack.Count >= MaxDepth)
        {
            throw new YamlException(start.Start, start.End, $"the document is nested deeper than {MaxDepth} levels");
        }
        budget--;
    }

    private static void Register(Dictionary<string, (JsonNode?, int)> anchors, AnchorName anchor, JsonNode? value, int size)
    {
        if (!anchor.IsEmpty)
        {
            anchors[anchor.Value] = (value, size);
        }
    }

    /// <summary>
    /// Builds a mapping. Merge keys (a plain <c>&lt;&lt;</c> whose value is a mapping or a list of mappings) contribute
    /// the keys the mapping does not give itself; among several merged mappings the earlier one wins.
    /// </summary>
    private static JsonObject BuildMapping(MappingFrame map)
    {
        var obj = new JsonObject();
        foreach (var (key, merge, value, valueStart, valueEnd) in map.Entries)
        {
            if (!merge)
            {
                obj[key] = value;
                continue;
            }
            var sources = value switch
            {
                JsonObject one => [one],
                JsonArray many when many.All(x => x is JsonObject) => many.Select(x => (JsonObject)x!).ToList(),
                _ => throw new YamlException(valueStart, valueEnd, "A merge key (<<) needs a mapping or a list of mappings."),
            };
            foreach (var source in sources)
            {
                foreach (var (mk, mv) in source)
                {
                    if (!map.Keys.Contains(mk) && !obj.ContainsKey(mk))
                    {
                        obj[mk] = mv?.DeepClone();
                    }
                }
            }
        }
        return obj;
    }

    private static JsonNode? Scalar(Scalar scalar)
    {
        var text = scalar.Value ?? "";
        var tag = scalar.Tag.IsEmpty || scalar.Tag.IsNonSpecific ? "" : scalar.Tag.Value;
        switch (tag)
        {
            case TagStr:
                return JsonValue.Create(text);
            case TagInt:
                return TryInteger(text, out var i) ? i : Fail(scalar, "an integer");
            case TagFloat:
                return TryFloat(text, out var f) ? f : Fail(scalar, "a float");
            case TagBool:
                return TryBool(text, out var b) ? b : Fail(scalar, "a boolean");
            case TagNull:
                return IsNull(text) ? null : Fail(scalar, "null");
        }
        if (scalar.Style != ScalarStyle.Plain && scalar.Style != ScalarStyle.Any)
        {
            return JsonValue.Create(text);
        }
        if (IsNull(text))
        {
            return null;
        }
        if (TryBool(text, out var boolean))
        {
            return boolean;
        }
        if (TryInteger(text, out var number) || TryFloat(text, out number))
        {
            return number;
        }
        return JsonValue.Create(text);
    }

    private static JsonValue Fail(Scalar scalar, string expected) =>
        throw new YamlException(scalar.Start, scalar.End, $"Tagged value '{scalar.Value}' is not {expected}.");

    private static bool IsNull(string text) => text is "" or "~" or "null" or "Null" or "NULL";

    private static bool TryBool(string text, out JsonValue value)
    {
        switch (text)
        {
            case "true" or "True" or "TRUE":
                value = JsonValue.Create(true);
                return true;
            case "false" or "False" or "FALSE":
                value = JsonValue.Create(false);
                return true;
            default:
                value = null!;
                return false;
        }
    }

    private static bool TryInteger(string text, out JsonValue value)
    {
        value = null!;
        if (DecimalInt().IsMatch(text))
        {
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
            {
                value = JsonValue.Create(l);
            }
            else
            {
                value = JsonValue.Create(double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture));
            }
            return true;
        }
        if (OctalInt().IsMatch(text) || HexInt().IsMatch(text))
        {
            try
            {
                var radix = text[1] == 'o' ? 8 : 16;
                value = JsonValue.Create(System.Convert.ToInt64(text[2..], radix));
                return true;
            }
            catch (OverflowException)
            {
                return false;
            }
        }
        return false;
    }

    private static bool TryFloat(string text, out JsonValue value)
    {
        value = null!;
        if (!Float().IsMatch(text))
        {
            return false;
        }
        var d = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (!double.IsFinite(d))
        {
            return false;
        }
        value = JsonValue.Create(d);
        return true;
    }
}
