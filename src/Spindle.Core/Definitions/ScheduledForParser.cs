using System.Globalization;
using System.Text.RegularExpressions;

namespace Spindle.Core.Definitions;

/// <summary>
/// <c>scheduled_for</c> (docs/workflow-format.md): an RFC 3339 date-time WITH an offset (<c>Z</c> or <c>±hh:mm</c>),
/// e.g. <c>2026-03-01T14:30:00Z</c> or <c>2026-03-01T14:30:00.5+01:00</c>. The separator may be <c>T</c>, <c>t</c> or
/// a space (RFC 3339 §5.6 note); <c>z</c> is accepted like <c>Z</c>. Fractions beyond 100 ns are truncated.
/// Leap seconds (<c>:60</c>) are rejected. No surrounding whitespace.
/// </summary>
public static partial class ScheduledForParser
{
    [GeneratedRegex(
        "^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\\.[0-9]+)?([Zz]|([+-])([0-9]{2}):([0-9]{2}))$",
        RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339();

    public static bool TryParse(string text, out DateTimeOffset at)
    {
        at = default;
        if (text is null)
        {
            return false;
        }
        var m = Rfc3339().Match(text);
        if (!m.Success)
        {
            return false;
        }
        static int Int(Group g) => int.Parse(g.Value, NumberStyles.None, CultureInfo.InvariantCulture);
        var offset = TimeSpan.Zero;
        if (m.Groups[9].Success)
        {
            int oh = Int(m.Groups[10]), om = Int(m.Groups[11]);
            if (oh > 23 || om > 59)
            {
                return false;
            }
            offset = new TimeSpan(oh, om, 0);
            if (m.Groups[9].Value == "-")
            {
                offset = -offset;
            }
        }
        try
        {
            var value = new DateTimeOffset(Int(m.Groups[1]), Int(m.Groups[2]), Int(m.Groups[3]),
                Int(m.Groups[4]), Int(m.Groups[5]), Int(m.Groups[6]), offset);
            if (m.Groups[7].Success)
            {
                var digits = m.Groups[7].Value[1..];
                digits = digits.Length > 7 ? digits[..7] : digits.PadRight(7, '0');
                value = value.AddTicks(long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture));
            }
            at = value;
            return true;
        }
        catch (ArgumentException) // includes ArgumentOutOfRangeException: bad date or out of range
        {
            return false;
        }
    }
}
