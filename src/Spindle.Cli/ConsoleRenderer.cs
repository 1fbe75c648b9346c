using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Spindle.Cli;

/// <summary>Text formatting shared by the commands: tables, pretty JSON, times and durations.</summary>
internal static class ConsoleRenderer
{
    private static readonly JsonSerializerOptions Pretty = new()
    {
        WriteIndented = true,
        // Output is for people: keep non-ASCII text and quotes readable instead of \uXXXX escapes.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string PrettyJson(JsonNode? node) => node is null ? "null" : node.ToJsonString(Pretty);

    /// <summary>A wire record as the server wrote it (same fields and order), indented.</summary>
    public static string PrettyJson<T>(T value, JsonTypeInfo<T> type) => PrettyJson(JsonSerializer.SerializeToNode(value, type));

    public static string CompactJson(JsonNode? node) => node is null ? "null" : node.ToJsonString(Compact);

    /// <summary>Every line of <paramref name="text"/> prefixed with <paramref name="indent"/>.</summary>
    public static string Indent(string text, string indent) =>
        string.Join('\n', text.Split('\n').Select(line => indent + line));

    /// <summary>Left-aligned columns separated by two spaces; trailing blanks trimmed.</summary>
    public static string Table(IReadOnlyList<string> headers, IReadOnlyList<string[]> rows)
    {
        var widths = headers.Select(h => h.Length).ToArray();
        foreach (var row in rows)
        {
            for (var i = 0; i < widths.Length && i < row.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }
        var text = new StringBuilder();
        void Line(IReadOnlyList<string> cells)
        {
            var line = new StringBuilder();
            for (var i = 0; i < widths.Length; i++)
            {
                var cell = i < cells.Count ? cells[i] : "";
                line.Append(i == widths.Length - 1 ? cell : cell.PadRight(widths[i] + 2));
            }
            text.Append(line.ToString().TrimEnd()).Append('\n');
        }
        Line(headers);
        foreach (var row in rows)
        {
            Line(row);
        }
        return text.ToString().TrimEnd('\n');
    }

    /// <summary>One line, at most <paramref name="max"/> characters, for table cells.</summary>
    public static string OneLine(string? text, int max = 80)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }
        var flat = text.ReplaceLineEndings(" ");
        return flat.Length <= max ? flat : flat[..(max - 1)] + "…";
    }

    public static DateTimeOffset? ParseTime(JsonNode? node) =>
        node?.GetValueKind() == JsonValueKind.String ? ParseTime(node.GetValue<string>()) : null;

    public static DateTimeOffset? ParseTime(string? text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : null;

    /// <summary><c>2026-03-01 10:00:00Z</c>: UTC, to the second.</summary>
    public static string Time(JsonNode? node) => Time(ParseTime(node));

    public static string Time(string? text) => Time(ParseTime(text));

    private static string Time(DateTimeOffset? at) =>
        at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "-";

    /// <summary><c>10:00:00.123</c>: UTC time of day, to the millisecond (event histories).</summary>
    public static string ClockTime(JsonNode? node) =>
        ParseTime(node) is { } at ? at.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture) : "-";

    public static string Duration(TimeSpan span)
    {
        if (span < TimeSpan.Zero)
        {
            span = TimeSpan.Zero;
        }
        if (span.TotalSeconds < 1)
        {
            return $"{(int)span.TotalMilliseconds} ms";
        }
        if (span.TotalMinutes < 1)
        {
            return span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
        }
        return span.TotalHours < 1
            ? $"{(int)span.TotalMinutes}m {span.Seconds:00}s"
            : $"{(int)span.TotalHours}h {span.Minutes:00}m";
    }

    public static string Str(JsonNode? node) => node?.GetValueKind() switch
    {
        null or JsonValueKind.Null => "",
        JsonValueKind.String => node.GetValue<string>(),
        _ => CompactJson(node),
    };

    public static int Int(JsonNode? node, int fallback = 0) =>
        node?.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue(out int value) ? value : fallback;

    public static bool Bool(JsonNode? node) => node?.GetValueKind() == JsonValueKind.True;

    /// <summary>The list form <c>[{name, type, value}]</c> of outputs as one object <c>{name: value}</c>.</summary>
    public static JsonObject OutputsObject(JsonNode? outputs)
    {
        var result = new JsonObject();
        if (outputs is JsonArray list)
        {
            foreach (var item in list.OfType<JsonObject>())
            {
                result[Str(item["name"])] = item["value"]?.DeepClone();
            }
        }
        return result;
    }

    public static bool IsTerminal(string? status) => status is "completed" or "failed" or "cancelled";
}
