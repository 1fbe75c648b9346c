using System.Globalization;
using Spindle.Core.Definitions;

namespace Spindle.Core.Common;

/// <summary>Whole-second durations as operators write them: <c>30m</c>, <c>1h30m</c>, <c>2d</c>.</summary>
public static class DurationText
{
    /// <summary><c>300</c> → <c>5m</c>, <c>5400</c> → <c>1h30m</c>, <c>45</c> → <c>45s</c>.</summary>
    public static string Format(long seconds)
    {
        if (seconds <= 0)
        {
            return "0s";
        }
        var text = new System.Text.StringBuilder();
        foreach (var (unit, size) in new[] { ("d", 86400L), ("h", 3600L), ("m", 60L), ("s", 1L) })
        {
            if (seconds >= size)
            {
                text.Append((seconds / size).ToString(CultureInfo.InvariantCulture)).Append(unit);
                seconds %= size;
            }
        }
        return text.ToString();
    }

    /// <summary>
    /// Parses a duration of the <c>delay</c> grammar in whole seconds (<c>90s</c>, <c>30m</c>, <c>2h</c>, <c>1d</c>,
    /// <c>1w</c>) or a bare number of seconds. Calendar units (<c>mo</c>, <c>y</c>) and sub-second values are refused:
    /// their length in seconds is not fixed or not whole.
    /// </summary>
    public static bool TryParseSeconds(string? text, out int seconds)
    {
        seconds = 0;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var bare))
        {
            seconds = bare;
            return true;
        }
        if (text.EndsWith("mo", StringComparison.Ordinal) || text.EndsWith('y')
            || !DurationParser.TryParseDelay(text, DateTimeOffset.UnixEpoch, out var until))
        {
            return false;
        }
        var span = until - DateTimeOffset.UnixEpoch;
        if (span.Ticks % TimeSpan.TicksPerSecond != 0 || span.TotalSeconds > int.MaxValue)
        {
            return false;
        }
        seconds = (int)span.TotalSeconds;
        return true;
    }
}
