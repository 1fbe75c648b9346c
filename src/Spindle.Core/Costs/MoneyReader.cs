using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Core.Costs;

/// <summary>How reading a money amount went; the caller words the error for its own field.</summary>
public enum MoneyRead
{
    /// <summary>No value (absent or JSON null).</summary>
    Absent,

    /// <summary>A decimal was read (it may be negative; the caller decides whether that is allowed).</summary>
    Ok,

    /// <summary>Neither a decimal string nor a number.</summary>
    Malformed,

    /// <summary>A number beyond the range of <see cref="decimal"/>.</summary>
    TooLarge,
}

/// <summary>
/// The one reader of USD amounts (budgets in definitions, costs and prices in activity parameters and results): a
/// decimal string or a JSON number, read from its text so that no amount goes through binary floating point.
/// </summary>
public static class MoneyReader
{
    /// <summary>Reads <paramref name="node"/>; <paramref name="value"/> is set only for <see cref="MoneyRead.Ok"/>.</summary>
    public static MoneyRead Read(JsonNode? node, out decimal value)
    {
        value = 0;
        if (node is null)
        {
            return MoneyRead.Absent;
        }
        if (node is not JsonValue v)
        {
            return MoneyRead.Malformed;
        }
        switch (v.GetValueKind())
        {
            case JsonValueKind.Null:
                return MoneyRead.Absent;
            case JsonValueKind.String:
                return decimal.TryParse(v.GetValue<string>().Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value)
                    ? MoneyRead.Ok
                    : MoneyRead.Malformed;
            case JsonValueKind.Number:
                // A JSON number is always well-formed, so the only way its text fails to parse is being out of range.
                return decimal.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out value)
                    ? MoneyRead.Ok
                    : MoneyRead.TooLarge;
            default:
                return MoneyRead.Malformed;
        }
    }

    /// <summary>Minimal-scale invariant text of a decimal: 0.50 → "0.5", 2.000 → "2".</summary>
    public static string Format(decimal value)
    {
        var normalized = value / 1.000000000000000000000000000000000m;
        var text = normalized.ToString(CultureInfo.InvariantCulture);
        return text == "-0" ? "0" : text;
    }
}
