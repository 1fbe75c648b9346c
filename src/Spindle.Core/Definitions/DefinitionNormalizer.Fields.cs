using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Core.Definitions;

// The field readers every section uses: one per scalar kind (integer, number, bool, enum, money), each recording
// the error under the field's path, plus the unknown-key warning and the hints the messages share.
internal sealed partial class DefinitionNormalizer
{
    // ------------------------------------------------------------------------------------------------ scalars

    private void WarnUnknown(JsonObject obj, string path, HashSet<string> known)
    {
        foreach (var (k, _) in obj)
        {
            if (!known.Contains(k))
            {
                Warn($"Unknown key ignored: {(path.Length == 0 ? k : path + "." + k)}");
            }
        }
    }

    private static string Who(Draft d) => d.Key is { Length: > 0 } k ? $"Activity '{k}'" : $"activities[{d.Index}]";

    /// <summary>" — remove the quotes" hint for numbers/booleans written as strings, or a quoting hint the other way.</summary>
    private static string QuoteHint(JsonNode? node, string field)
    {
        if (JsonUtil.IsString(node, out var s) &&
            double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            return $"; write it without quotes, e.g. {field}: {s}";
        }
        if (JsonUtil.IsNumber(node) || JsonUtil.IsBool(node, out _))
        {
            return $"; quote it to make it a string, e.g. {field}: \"{node!.ToJsonString()}\"";
        }
        return "";
    }

    private static string FieldName(string path) => path[(path.LastIndexOf('.') + 1)..];

    /// <summary>An integer in [min, int.MaxValue]; integral floats (30.0) are accepted. Null when absent or invalid.</summary>
    private long? Integer(JsonNode? node, string path, long min)
    {
        if (node is null)
        {
            return null;
        }
        var field = FieldName(path);
        var expected = $"a whole number >= {min}";
        if (!JsonUtil.TryGetInteger(node, out var value))
        {
            Error(path, JsonUtil.TryGetDouble(node, out _)
                ? $"'{field}' must be {expected}, got {JsonUtil.Describe(node)}; fractions are not allowed."
                : $"'{field}' must be {expected}, got {JsonUtil.Describe(node)}{QuoteHint(node, field)}.");
            return null;
        }
        if (value < min || value > int.MaxValue)
        {
            Error(path, $"'{field}' must be {expected} and at most {int.MaxValue}, got {value}.");
            return null;
        }
        return value;
    }

    private double? Number(JsonNode? node, string path, double min)
    {
        if (node is null)
        {
            return null;
        }
        var field = FieldName(path);
        var minText = min.ToString(CultureInfo.InvariantCulture);
        if (!JsonUtil.TryGetDouble(node, out var value))
        {
            Error(path, $"'{field}' must be a number >= {minText}, got {JsonUtil.Describe(node)}{QuoteHint(node, field)}.");
            return null;
        }
        if (value < min)
        {
            Error(path, $"'{field}' must be a number >= {minText}, got {value.ToString("R", CultureInfo.InvariantCulture)}.");
            return null;
        }
        return value;
    }

    private bool? Bool(JsonNode? node, string path)
    {
        if (node is null)
        {
            return null;
        }
        if (JsonUtil.IsBool(node, out var b))
        {
            return b;
        }
        var field = FieldName(path);
        Error(path, $"'{field}' must be true or false (unquoted), got {JsonUtil.Describe(node)}.");
        return null;
    }

    private string? Enum(JsonNode? node, string path, string[] allowed)
    {
        if (node is null)
        {
            return null;
        }
        if (JsonUtil.IsString(node, out var s) && allowed.Contains(s, StringComparer.Ordinal))
        {
            return s;
        }
        Error(path, $"'{FieldName(path)}' must be one of {string.Join(", ", allowed)}; got {JsonUtil.Describe(node)}.");
        return null;
    }

    /// <summary>Decimal USD ≥ 0 given as a string or a number; returns the normalised string ("0.50" → "0.5").</summary>
    private string? Money(JsonNode? node, string path)
    {
        switch (MoneyReader.Read(node, out var value))
        {
            case MoneyRead.Absent:
                return null;
            case MoneyRead.TooLarge:
                Error(path, $"'{FieldName(path)}' is too large for a USD amount.");
                return null;
            case MoneyRead.Malformed:
                Error(path, $"'{FieldName(path)}' must be a decimal amount in USD such as \"0.50\" or 0.5, got {JsonUtil.Describe(node)}.");
                return null;
        }
        if (value < 0)
        {
            Error(path, $"'{FieldName(path)}' must be >= 0, got {value.ToString(CultureInfo.InvariantCulture)}.");
            return null;
        }
        return MoneyReader.Format(value);
    }
}
