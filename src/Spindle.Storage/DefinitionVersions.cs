using System.Globalization;
using Spindle.Core.Common;

namespace Spindle.Storage;

/// <summary>Version strings <c>YYYYmmdd.HHMMSS.uuuuuu</c> (docs/workflow-format.md): deploy time in UTC, strictly increasing per name.</summary>
public static class DefinitionVersions
{
    private const string Format = "yyyyMMdd'.'HHmmss'.'ffffff";

    public static string FromMicros(long micros) =>
        Timestamps.FromMicros(micros).UtcDateTime.ToString(Format, CultureInfo.InvariantCulture);

    public static bool TryParse(string? text, out long micros)
    {
        micros = 0;
        if (text is null || text.Length != 22
            || !DateTime.TryParseExact(text, Format, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at))
        {
            return false;
        }
        micros = Timestamps.ToMicros(new DateTimeOffset(at, TimeSpan.Zero));
        return true;
    }

    /// <summary>The clock's version, or the latest + 1 µs when the clock is not ahead of it.</summary>
    public static string Next(long nowMicros, string? latest)
    {
        if (latest is not null && TryParse(latest, out var latestMicros) && nowMicros <= latestMicros)
        {
            nowMicros = latestMicros + 1;
        }
        return FromMicros(nowMicros);
    }
}
