using System.Globalization;
using System.Text.RegularExpressions;

namespace Spindle.Core.Definitions;

/// <summary>
/// The <c>delay</c> grammar of docs/workflow-format.md: <c>^(\d+)(ms|s|m|mi|h|d|w|mo|y)$</c> with ASCII digits and no
/// surrounding whitespace. <c>m</c> and <c>mi</c> are minutes, <c>w</c> is 7 days, <c>mo</c> adds calendar months
/// (<see cref="DateTimeOffset.AddMonths"/>, so Jan 31 + 1mo = Feb 28/29) and <c>y</c> adds 12 calendar months.
/// </summary>
public static partial class DurationParser
{
    [GeneratedRegex("^([0-9]+)(ms|s|m|mi|h|d|w|mo|y)$", RegexOptions.CultureInvariant)]
    private static partial Regex Grammar();

    /// <summary>True when <paramref name="text"/> matches the grammar (without computing a time).</summary>
    public static bool IsValidSyntax(string text) => text is not null && Grammar().IsMatch(text);

    /// <summary>Computes <paramref name="from"/> + the delay. False when the text does not match the grammar
    /// or the result is outside the representable range.</summary>
    public static bool TryParseDelay(string text, DateTimeOffset from, out DateTimeOffset until)
    {
        until = from;
        if (text is null)
        {
            return false;
        }
        var match = Grammar().Match(text);
        if (!match.Success
            || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }
        try
        {
            switch (match.Groups[2].Value)
            {
                case "mo":
                    until = from.AddMonths(checked((int)n));
                    return true;
                case "y":
                    until = from.AddMonths(checked((int)(n * 12)));
                    return true;
            }
            var unitTicks = match.Groups[2].Value switch
            {
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" or "mi" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                "d" => TimeSpan.TicksPerDay,
                _ => TimeSpan.TicksPerDay * 7, // "w"
            };
            until = from.AddTicks(checked(n * unitTicks));
            return true;
        }
        catch (Exception e) when (e is OverflowException or ArgumentOutOfRangeException)
        {
            until = from;
            return false;
        }
    }
}
